//! Measurement noise models `y = N(A x)`: additive white Gaussian, Poisson (photon
//! counting) and mixed Poisson-Gaussian, seeded and reproducible.
//!
//! Reproducibility: the noise of an array depends only on the seed and the array's
//! values in logical (C) order, not on its memory layout or on the number of threads.
//! The array is cut into blocks of [`BLOCK`] elements; block `b` draws from its own
//! generator, seeded with the `b`-th 64-bit output of `posterior::rng(seed)`, so blocks are
//! filled in parallel.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rand::Rng;
use rand_distr::{Distribution, Poisson};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::scalar::{Scalar, c32};
use crate::spec::Spec;

/// Elements per independently seeded block.
pub const BLOCK: usize = 1 << 16;

/// The noise model names and their documentation, for help text.
pub const NOISE_KINDS: &[(&str, &str)] = &[
    ("none", "no noise: y = A x"),
    (
        "gaussian",
        "additive white Gaussian noise, y = A x + sigma n, n ~ N(0, 1) i.i.d.; complex data \
         gets sigma on the real and on the imaginary part. Keys: sigma (>= 0, required)",
    ),
    (
        "poisson",
        "Poisson (shot) noise, y = Poisson(peak * max(A x, 0)) / peak: mean A x, variance \
         A x / peak; a larger peak (photons at intensity 1) means less noise; negative \
         entries of A x are clipped to 0; real data only. Keys: peak (> 0, required)",
    ),
    (
        "poisson-gaussian",
        "Poisson noise plus Gaussian read-out noise, y = Poisson(peak * max(A x, 0)) / peak \
         + sigma n; variance A x / peak + sigma^2; real data only. Keys: peak (> 0, \
         required), sigma (>= 0, required)",
    ),
];

/// A noise model (see [`NOISE_KINDS`] for the formulas).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoiseModel {
    /// Noiseless data.
    None,
    /// Additive white Gaussian noise with standard deviation `sigma`.
    Gaussian {
        /// Standard deviation (per real component).
        sigma: f32,
    },
    /// Poisson noise: `y = Poisson(peak · max(x, 0)) / peak`.
    Poisson {
        /// Expected photon count at intensity 1.
        peak: f32,
    },
    /// Poisson noise plus additive Gaussian noise of standard deviation `sigma`.
    PoissonGaussian {
        /// Expected photon count at intensity 1.
        peak: f32,
        /// Standard deviation of the Gaussian part.
        sigma: f32,
    },
}

fn required(spec: &Spec, args: &crate::spec::Args, key: &str, example: &str) -> Result<f32> {
    args.f32_opt(key)?
        .ok_or_else(|| Error::Spec(format!("`{}` needs `{key}`, as in `{example}`", spec.name)))
}

fn check_sigma(sigma: f32) -> Result<f32> {
    if sigma >= 0.0 && sigma.is_finite() {
        Ok(sigma)
    } else {
        Err(Error::param(
            "sigma",
            format!("the noise standard deviation must be >= 0, got {sigma}"),
        ))
    }
}

fn check_peak(peak: f32) -> Result<f32> {
    if peak > 0.0 && peak.is_finite() {
        Ok(peak)
    } else {
        Err(Error::param(
            "peak",
            format!("the photon count at intensity 1 must be > 0, got {peak}"),
        ))
    }
}

impl NoiseModel {
    /// Build from a specification: `none`, `gaussian:sigma=0.01`, `poisson:peak=100`,
    /// `poisson-gaussian:peak=100,sigma=0.01`. Parameters are required; `sigma >= 0`,
    /// `peak > 0`.
    pub fn from_spec(spec: &Spec) -> Result<NoiseModel> {
        match spec.name.as_str() {
            "none" => {
                spec.args(&[])?;
                Ok(NoiseModel::None)
            }
            "gaussian" => {
                let a = spec.args(&["sigma"])?;
                let sigma = check_sigma(required(spec, &a, "sigma", "gaussian:sigma=0.01")?)?;
                Ok(NoiseModel::Gaussian { sigma })
            }
            "poisson" => {
                let a = spec.args(&["peak"])?;
                let peak = check_peak(required(spec, &a, "peak", "poisson:peak=100")?)?;
                Ok(NoiseModel::Poisson { peak })
            }
            "poisson-gaussian" => {
                let a = spec.args(&["peak", "sigma"])?;
                let ex = "poisson-gaussian:peak=100,sigma=0.01";
                let peak = check_peak(required(spec, &a, "peak", ex)?)?;
                let sigma = check_sigma(required(spec, &a, "sigma", ex)?)?;
                Ok(NoiseModel::PoissonGaussian { peak, sigma })
            }
            other => Err(Error::Spec(format!(
                "unknown noise model `{other}`; choose one of {}",
                NOISE_KINDS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The model as a specification string that [`NoiseModel::from_spec`] parses back,
    /// e.g. `poisson-gaussian:peak=100,sigma=0.01`.
    pub fn describe(&self) -> String {
        match self {
            NoiseModel::None => "none".into(),
            NoiseModel::Gaussian { sigma } => format!("gaussian:sigma={sigma}"),
            NoiseModel::Poisson { peak } => format!("poisson:peak={peak}"),
            NoiseModel::PoissonGaussian { peak, sigma } => {
                format!("poisson-gaussian:peak={peak},sigma={sigma}")
            }
        }
    }

    /// The noise standard deviation when it does not depend on the data: `Some(0)` for
    /// `none`, `Some(sigma)` for `gaussian`; `None` for the Poisson models, whose variance
    /// `x / peak (+ sigma²)` varies with the signal (see [`NoiseModel::effective_sigma`]).
    pub fn gaussian_sigma(&self) -> Option<f32> {
        match *self {
            NoiseModel::None => Some(0.0),
            NoiseModel::Gaussian { sigma } => Some(sigma),
            NoiseModel::Poisson { .. } | NoiseModel::PoissonGaussian { .. } => None,
        }
    }

    /// A single standard deviation for signals of mean intensity `mean` (clipped at 0):
    /// `sqrt(mean / peak + sigma²)`, the root-mean-square noise level of the Poisson
    /// models (their variance `x / peak` averages to `mean / peak`); equals
    /// [`NoiseModel::gaussian_sigma`] for the others. Useful for choosing default
    /// regularisation weights.
    pub fn effective_sigma(&self, mean: f32) -> f32 {
        let m = mean.max(0.0);
        match *self {
            NoiseModel::None => 0.0,
            NoiseModel::Gaussian { sigma } => sigma,
            NoiseModel::Poisson { peak } => (m / peak).sqrt(),
            NoiseModel::PoissonGaussian { peak, sigma } => (m / peak + sigma * sigma).sqrt(),
        }
    }

    /// Noisy copy of real data `x` (any shape), reproducible from `seed`.
    ///
    /// Poisson models clip negative entries of `x` to 0 before counting (a rate cannot be
    /// negative); their outputs are multiples of `1 / peak`.
    ///
    /// Errors: [`Error::NonFinite`] if `x` holds NaN or infinity; [`Error::Param`] if
    /// `peak · x` exceeds the largest supported Poisson mean (1.8e19).
    pub fn apply_real(&self, x: &ArrayViewD<f32>, seed: u64) -> Result<ArrayD<f32>> {
        crate::io::check_finite("data given to the noise model", x.view())?;
        match *self {
            NoiseModel::None => Ok(x.to_owned()),
            NoiseModel::Gaussian { sigma } => Ok(blockwise(x, seed, |rng, v: f32| {
                v + sigma * f32::standard_normal(rng)
            })),
            NoiseModel::Poisson { peak } => {
                check_rate(x, peak)?;
                Ok(blockwise(x, seed, |rng, v: f32| poisson(rng, v, peak)))
            }
            NoiseModel::PoissonGaussian { peak, sigma } => {
                check_rate(x, peak)?;
                Ok(blockwise(x, seed, |rng, v: f32| {
                    poisson(rng, v, peak) + sigma * f32::standard_normal(rng)
                }))
            }
        }
    }

    /// Noisy copy of complex data `x` (k-space), reproducible from `seed`. Gaussian noise
    /// has standard deviation `sigma` on the real part and on the imaginary part each
    /// (variance `2 sigma²` of the complex value).
    ///
    /// Errors: [`Error::Param`] for the Poisson models (they count photons and need real,
    /// non-negative data); [`Error::NonFinite`] for NaN or infinite input.
    pub fn apply_complex(&self, x: &ArrayViewD<c32>, seed: u64) -> Result<ArrayD<c32>> {
        crate::io::check_finite("data given to the noise model", x.view())?;
        match *self {
            NoiseModel::None => Ok(x.to_owned()),
            NoiseModel::Gaussian { sigma } => Ok(blockwise(x, seed, |rng, v: c32| {
                v + c32::standard_normal(rng) * sigma
            })),
            NoiseModel::Poisson { .. } | NoiseModel::PoissonGaussian { .. } => Err(Error::param(
                "noise",
                format!(
                    "`{}` models photon counts and applies to real, non-negative data; \
                         complex (k-space) data takes `gaussian:sigma=...` noise",
                    self.describe()
                ),
            )),
        }
    }
}

/// Error unless every Poisson mean `peak · max(x, 0)` is within rand_distr's range.
fn check_rate(x: &ArrayViewD<f32>, peak: f32) -> Result<()> {
    let max = x.iter().fold(0.0f32, |m, &v| m.max(v));
    let rate = peak as f64 * max as f64;
    if rate < Poisson::<f64>::MAX_LAMBDA {
        Ok(())
    } else {
        Err(Error::param(
            "peak",
            format!(
                "peak * max(x) = {rate:e} exceeds the largest supported Poisson mean \
                 ({:e}); lower the peak",
                Poisson::<f64>::MAX_LAMBDA
            ),
        ))
    }
}

/// One draw of `Poisson(peak · max(v, 0)) / peak`.
#[inline]
fn poisson<R: Rng + ?Sized>(rng: &mut R, v: f32, peak: f32) -> f32 {
    let lambda = peak as f64 * v.max(0.0) as f64;
    if lambda > 0.0 {
        let count: f64 = Poisson::new(lambda)
            .expect("rate checked to be positive, finite and in range")
            .sample(rng);
        (count / peak as f64) as f32
    } else {
        0.0
    }
}

/// Apply `f(rng, value)` to every element of `x` in logical order, block by block in
/// parallel; block `b` uses a generator seeded with the `b`-th draw of `rng(seed)`.
fn blockwise<T, F>(x: &ArrayViewD<T>, seed: u64, f: F) -> ArrayD<T>
where
    T: Scalar,
    F: Fn(&mut rand::rngs::Xoshiro256PlusPlus, T) -> T + Sync,
{
    let input: std::borrow::Cow<[T]> = match x.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(x.iter().copied().collect()),
    };
    let mut master = crate::rng(seed);
    let seeds: Vec<u64> = (0..input.len().div_ceil(BLOCK))
        .map(|_| master.next_u64())
        .collect();
    let mut out = vec![T::zero(); input.len()];
    out.par_chunks_mut(BLOCK)
        .zip(input.par_chunks(BLOCK))
        .zip(seeds.par_iter())
        .for_each(|((o, i), &s)| {
            let mut rng = crate::rng(s);
            for (o, &v) in o.iter_mut().zip(i) {
                *o = f(&mut rng, v);
            }
        });
    ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("same number of elements")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: impl Iterator<Item = f64>) -> (f64, f64) {
        let (mut n, mut s, mut s2) = (0.0, 0.0, 0.0);
        for x in v {
            n += 1.0;
            s += x;
            s2 += x * x;
        }
        let mean = s / n;
        (mean, (s2 / n - mean * mean) * n / (n - 1.0))
    }

    fn constant(shape: &[usize], v: f32) -> ArrayD<f32> {
        ArrayD::from_elem(IxDyn(shape), v)
    }

    fn parse(s: &str) -> Result<NoiseModel> {
        NoiseModel::from_spec(&Spec::parse(s).unwrap())
    }

    #[test]
    fn gaussian_mean_and_std() {
        let n = 1 << 20;
        let x = constant(&[n], 0.25);
        let y = parse("gaussian:sigma=0.1")
            .unwrap()
            .apply_real(&x.view(), 1)
            .unwrap();
        let (mean, var) = stats(y.iter().map(|&v| v as f64));
        // Standard error of the mean: 0.1 / 1024 ≈ 1e-4; of the std: ≈ 0.1 / sqrt(2n).
        assert!((mean - 0.25).abs() < 5e-4, "mean {mean}");
        assert!((var.sqrt() - 0.1).abs() < 5e-4, "std {}", var.sqrt());
    }

    #[test]
    fn poisson_mean_and_variance_scale_with_peak() {
        let n = 1 << 20;
        for (level, peak) in [(0.3f32, 50.0f32), (1.0, 1000.0), (0.05, 20.0)] {
            let x = constant(&[1024, n / 1024], level);
            let m = NoiseModel::Poisson { peak };
            let y = m.apply_real(&x.view(), 3).unwrap();
            // Outputs are counts / peak.
            assert!(y.iter().all(|&v| {
                let c = v as f64 * peak as f64;
                (c - c.round()).abs() < 1e-3 * c.max(1.0)
            }));
            let (mean, var) = stats(y.iter().map(|&v| v as f64));
            let want_var = level as f64 / peak as f64;
            assert!(
                (mean - level as f64).abs() < 5.0 * (want_var / n as f64).sqrt(),
                "{mean}"
            );
            assert!(
                (var / want_var - 1.0).abs() < 0.02,
                "peak {peak}: var {var} vs {want_var}"
            );
            assert_eq!(m.effective_sigma(level), (level / peak).sqrt());
        }
        // Negative and zero rates give exactly 0.
        let x = ArrayD::from_shape_vec(IxDyn(&[3]), vec![-1.0f32, 0.0, -1e-3]).unwrap();
        let y = NoiseModel::Poisson { peak: 1e4 }
            .apply_real(&x.view(), 0)
            .unwrap();
        assert!(y.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn poisson_gaussian_variance_adds() {
        let n = 1 << 20;
        let x = constant(&[n], 0.5);
        let m = parse("poisson-gaussian:peak=100,sigma=0.05").unwrap();
        let y = m.apply_real(&x.view(), 9).unwrap();
        let (mean, var) = stats(y.iter().map(|&v| v as f64));
        let want = 0.5 / 100.0 + 0.0025;
        assert!((mean - 0.5).abs() < 5e-4);
        assert!((var / want - 1.0).abs() < 0.02, "{var} vs {want}");
        assert!((m.effective_sigma(0.5) as f64 - want.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn complex_gaussian_per_component() {
        let n = 1 << 20;
        let z = ArrayD::from_elem(IxDyn(&[n]), c32::new(1.0, -2.0));
        let y = NoiseModel::Gaussian { sigma: 0.2 }
            .apply_complex(&z.view(), 4)
            .unwrap();
        let (mr, vr) = stats(y.iter().map(|v| v.re as f64));
        let (mi, vi) = stats(y.iter().map(|v| v.im as f64));
        assert!((mr - 1.0).abs() < 1e-3 && (mi + 2.0).abs() < 1e-3);
        assert!((vr.sqrt() - 0.2).abs() < 1e-3 && (vi.sqrt() - 0.2).abs() < 1e-3);
        // Real and imaginary parts are uncorrelated.
        let cov: f64 = y
            .iter()
            .map(|v| (v.re as f64 - mr) * (v.im as f64 - mi))
            .sum::<f64>()
            / n as f64;
        assert!(cov.abs() < 5.0 * 0.04 / (n as f64).sqrt(), "{cov}");

        let e = parse("poisson:peak=10")
            .unwrap()
            .apply_complex(&z.view(), 0)
            .unwrap_err();
        assert!(
            matches!(e, Error::Param { .. }) && e.to_string().contains("gaussian"),
            "{e}"
        );
        assert_eq!(NoiseModel::None.apply_complex(&z.view(), 0).unwrap(), z);
    }

    #[test]
    fn seeds_reproduce_independently_of_layout() {
        let x = ArrayD::from_shape_fn(IxDyn(&[300, 500]), |ix| (ix[0] * 7 + ix[1]) as f32 / 4000.0);
        for m in [
            NoiseModel::Gaussian { sigma: 0.1 },
            NoiseModel::Poisson { peak: 30.0 },
            NoiseModel::PoissonGaussian {
                peak: 30.0,
                sigma: 0.02,
            },
        ] {
            let a = m.apply_real(&x.view(), 42).unwrap();
            assert_eq!(a, m.apply_real(&x.view(), 42).unwrap());
            assert_ne!(a, m.apply_real(&x.view(), 43).unwrap());
            // A transposed (non-contiguous) view gets the noise of its C-order copy.
            let t = x.view().reversed_axes();
            let tc = t.as_standard_layout().into_owned();
            assert_eq!(
                m.apply_real(&t, 5).unwrap(),
                m.apply_real(&tc.view(), 5).unwrap()
            );
        }
        // Blocks are not copies of each other (150000 elements = 3 blocks).
        let z = constant(&[3 * BLOCK], 0.0);
        let y = NoiseModel::Gaussian { sigma: 1.0 }
            .apply_real(&z.view(), 0)
            .unwrap();
        let s = y.as_slice().unwrap();
        assert_ne!(&s[..100], &s[BLOCK..BLOCK + 100]);
        assert_ne!(&s[BLOCK..BLOCK + 100], &s[2 * BLOCK..2 * BLOCK + 100]);
    }

    #[test]
    fn specs_parse_validate_and_round_trip() {
        assert_eq!(parse("none").unwrap(), NoiseModel::None);
        assert_eq!(
            parse("gaussian:sigma=0.01").unwrap(),
            NoiseModel::Gaussian { sigma: 0.01 }
        );
        assert_eq!(
            parse("poisson:peak=100").unwrap(),
            NoiseModel::Poisson { peak: 100.0 }
        );
        assert_eq!(
            parse("poisson-gaussian:peak=100,sigma=0.01").unwrap(),
            NoiseModel::PoissonGaussian {
                peak: 100.0,
                sigma: 0.01
            }
        );
        assert_eq!(
            parse("gaussian:sigma=0").unwrap().gaussian_sigma(),
            Some(0.0)
        );
        for m in [
            NoiseModel::None,
            NoiseModel::Gaussian { sigma: 0.037 },
            NoiseModel::Poisson { peak: 12.5 },
            NoiseModel::PoissonGaussian {
                peak: 1e4,
                sigma: 1e-3,
            },
        ] {
            assert_eq!(parse(&m.describe()).unwrap(), m);
        }
        assert_eq!(
            NoiseModel::Gaussian { sigma: 0.3 }.gaussian_sigma(),
            Some(0.3)
        );
        assert_eq!(NoiseModel::Poisson { peak: 3.0 }.gaussian_sigma(), None);

        let bad = [
            ("gaussian:sigma=-0.1", "must be >= 0"),
            ("gaussian", "needs `sigma`"),
            ("gaussian:std=0.1", "no parameter `std`"),
            ("poisson:peak=0", "must be > 0"),
            ("poisson:peak=-5", "must be > 0"),
            ("poisson-gaussian:peak=10", "needs `sigma`"),
            ("none:sigma=1", "no parameter"),
            ("gauss:sigma=1", "unknown noise model"),
            ("poisson:peak=abc", "expects a number"),
        ];
        for (s, needle) in bad {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains(needle), "`{s}`: `{e}` should contain `{needle}`");
        }
        assert_eq!(NOISE_KINDS.len(), 4);
        for (name, _) in NOISE_KINDS {
            assert!(Spec::parse(name).is_ok());
        }
    }

    #[test]
    fn rejects_non_finite_input_and_huge_rates() {
        let mut x = constant(&[4, 4], 0.5);
        x[[1, 2]] = f32::NAN;
        let e = NoiseModel::Gaussian { sigma: 0.1 }
            .apply_real(&x.view(), 0)
            .unwrap_err();
        assert!(matches!(e, Error::NonFinite { count: 1, .. }));
        let x = constant(&[2], 1e10);
        let e = NoiseModel::Poisson { peak: 1e10 }
            .apply_real(&x.view(), 0)
            .unwrap_err();
        assert!(e.to_string().contains("Poisson mean"), "{e}");
    }
}
