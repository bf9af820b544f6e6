//! Reconstruction methods by name: the `--method` specs of the command line.
//!
//! A method takes the operator (built from its spec), the measurements and a [`RunOptions`]
//! and returns an [`Outcome`]. Iterative methods run under the [`Driver`], so they share
//! stopping rules, progress reporting, JSON logs, reference PSNR and NaN detection.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use ndarray::{ArrayD, ArrayViewD, Ix2, IxDyn};

use crate::error::{Error, Result};
use crate::io::AnyArray;
use crate::noise::NoiseModel;
use crate::ops::counted::OpCounts;
use crate::ops::{AnyOperator, LinearOperator};
use crate::scalar::{Scalar, c32};
use crate::solve::{Callback, Driver, IterRecord, JsonLog, MleParams, Report};
use crate::spec::Spec;

pub mod map;
pub mod pnp;

/// One registered method family.
pub struct MethodEntry {
    /// Spec name.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Keys and their documentation (with defaults).
    pub keys: &'static [(&'static str, &'static str)],
}

/// Runs a registered method: `(operator spec, operator, measurements, method spec, options)`.
pub type MethodRun = fn(&Spec, &AnyOperator, &AnyArray, &Spec, &mut RunOptions) -> Result<Outcome>;

/// A method family added at run time by a crate this one cannot depend on (the generative
/// priors of `posterior-nn`); see [`register_method`].
#[derive(Clone, Copy)]
pub struct RegisteredMethod {
    /// Spec name.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Keys and their documentation (with defaults).
    pub keys: &'static [(&'static str, &'static str)],
    /// Run it. [`reconstruct`] has already checked the measurements' shape, their finiteness
    /// and the reference's shape.
    pub run: MethodRun,
}

static REGISTERED: std::sync::RwLock<Vec<RegisteredMethod>> = std::sync::RwLock::new(Vec::new());

/// Add a method family, so that [`reconstruct`] and [`methods`] find it. Registering a name
/// again replaces the earlier entry; built-in names cannot be replaced.
pub fn register_method(entry: RegisteredMethod) {
    if builtin_methods().iter().any(|m| m.name == entry.name) {
        return;
    }
    let mut reg = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    reg.retain(|e| e.name != entry.name);
    reg.push(entry);
}

fn registered(name: &str) -> Option<RegisteredMethod> {
    REGISTERED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|m| m.name == name)
        .copied()
}

/// All method families: the built-in ones, those added with [`register_method`], and one per
/// denoiser added with [`crate::denoise::register_denoiser`] (usable on `denoise` data like
/// `nlm`).
pub fn methods() -> Vec<MethodEntry> {
    let mut all = builtin_methods();
    for m in REGISTERED.read().unwrap_or_else(|e| e.into_inner()).iter() {
        all.push(MethodEntry {
            name: m.name,
            summary: m.summary,
            keys: m.keys,
        });
    }
    for d in crate::denoise::denoisers() {
        if !all.iter().any(|m| m.name == d.name) {
            all.push(MethodEntry {
                name: d.name,
                summary: d.summary,
                keys: DENOISER_METHOD_KEYS,
            });
        }
    }
    all
}

fn builtin_methods() -> Vec<MethodEntry> {
    vec![
        MethodEntry {
            name: "adjoint",
            summary: "x = A^H y: zero-filled reconstruction (MRI), back-projection (CT), the measurement itself (denoise)",
            keys: &[],
        },
        MethodEntry {
            name: "fbp",
            summary: "filtered back-projection (ct only)",
            keys: &[(
                "filter",
                "ramp | shepp-logan | cosine | hann | hamming (default ramp)",
            )],
        },
        MethodEntry {
            name: "mle",
            summary: "maximum likelihood: least squares argmin ||y - A x||^2 by CGLS, LSQR or (projected) Landweber, early stopped",
            keys: MleParams::KEYS,
        },
        MethodEntry {
            name: "tikhonov",
            summary: "MAP with a Gaussian prior: argmin ½||A x - y||^2 + (λ/2)||R x||^2, R = I, D or Δ; closed form in Fourier/pixel space where possible, CG otherwise",
            keys: map::TIKHONOV_KEYS,
        },
        MethodEntry {
            name: "tv",
            summary: "total variation: argmin ½||A x - y||^2 + λ TV(x) (isotropic or anisotropic, optional x >= 0) by ADMM, PDHG, linearized ADMM or FISTA",
            keys: map::TV_KEYS,
        },
        MethodEntry {
            name: "wavelet",
            summary: "wavelet sparsity: argmin ½||A x - y||^2 + λ||W x||_1, W an orthonormal wavelet transform, by FISTA or ADMM",
            keys: map::WAVELET_KEYS,
        },
        MethodEntry {
            name: "dct",
            summary: "DCT sparsity: argmin ½||A x - y||^2 + λ||C x||_1, C the orthonormal 2-D DCT (global or 8x8), by FISTA or ADMM",
            keys: map::DCT_KEYS,
        },
        MethodEntry {
            name: "pnp-admm",
            summary: "Plug-and-Play ADMM with any denoiser: x = (A^H A + rho I)^-1 (A^H y + rho (z - u)), z = D(x + u, sigma), u += x - z",
            keys: pnp::PNP_KEYS,
        },
        MethodEntry {
            name: "pnp-hqs",
            summary: "Plug-and-Play half-quadratic splitting: x = (A^H A + rho I)^-1 (A^H y + rho z), z = D(x, sigma)",
            keys: pnp::PNP_KEYS,
        },
        MethodEntry {
            name: "pnp-drs",
            summary: "Plug-and-Play Douglas-Rachford splitting: x = prox_{f/rho}(s), z = D(2x - s, sigma), s += z - x",
            keys: pnp::PNP_KEYS,
        },
        MethodEntry {
            name: "pnp-pgd",
            summary: "Plug-and-Play proximal gradient: x = D(w - step A^H (A w - y), sigma), w = x or the FISTA extrapolation (the default where ||A||^2 stands over 50 times above the mean eigenvalue of A^H A, e.g. CT); levels scaled by sqrt(step); 150 iterations, slower than pnp-admm/pnp-drs on ill-conditioned operators",
            keys: pnp::PGD_KEYS,
        },
        MethodEntry {
            name: "dpir",
            summary: "DPIR (Zhang et al. 2021): HQS with denoiser levels log-spaced from 49/255 to the noise level and rho_k = lambda sigma_n^2 / sigma_k^2",
            keys: pnp::DPIR_KEYS,
        },
        MethodEntry {
            name: "red",
            summary: "Regularization by Denoising (Romano et al. 2017): A^H (A x - y) + lambda (x - D(x)) = 0 by the (FISTA-extrapolated) fixed point, gradient descent or ADMM",
            keys: pnp::RED_KEYS,
        },
        MethodEntry {
            name: "nlm",
            summary: "non-local means denoising (denoise operator only); keys of the nlm denoiser plus sigma",
            keys: DENOISER_METHOD_KEYS,
        },
        MethodEntry {
            name: "bm3d",
            summary: "BM3D denoising, two stages (denoise operator only); keys of the bm3d denoiser plus sigma",
            keys: DENOISER_METHOD_KEYS,
        },
        MethodEntry {
            name: "wnnm",
            summary: "weighted nuclear norm minimization denoising (denoise operator only); keys of the wnnm denoiser plus sigma",
            keys: DENOISER_METHOD_KEYS,
        },
    ]
}

/// Keys of the denoiser methods (`nlm`, `bm3d`, `wnnm`): `sigma` plus the denoiser's own.
pub const DENOISER_METHOD_KEYS: &[(&str, &str)] = &[
    (
        "sigma",
        "noise standard deviation (default: the noise model's sigma, else estimated from y)",
    ),
    (
        "...",
        "the denoiser's own keys, see `posterior list` under DENOISERS or the library docs",
    ),
];

/// Denoise `y` with a registered denoiser; `op_spec` must be `denoise`.
fn run_denoiser(op_spec: &Spec, y: &AnyArray, method: &Spec, opts: &RunOptions) -> Result<Outcome> {
    if op_spec.name != "denoise" {
        return Err(Error::Spec(format!(
            "`{}` is a denoiser: it reconstructs `denoise` data only, not `{}`; use it inside \
             pnp-admm:denoiser={} or dpir:denoiser={} for other operators",
            method.name, op_spec.name, method.name, method.name
        )));
    }
    let yr = expect::<f32>(y, "measurements")?;
    let sigma = match method.raw("sigma") {
        Some(text) => {
            let v: f32 = text
                .parse()
                .map_err(|_| Error::param("sigma", format!("expected a number, got `{text}`")))?;
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(
                    "sigma",
                    format!("must be finite and > 0, got {v}"),
                ));
            }
            v
        }
        None => {
            map::noise_level(opts.noise.as_ref(), y, None, y.shape().len()).ok_or_else(|| {
                Error::param(
                    "sigma",
                    format!(
                        "the noise level is unknown and the {:?} measurements are too small to \
                         estimate it from: give sigma=...",
                        y.shape()
                    ),
                )
            })? as f32
        }
    };
    let mut inner = Spec::parse(&method.name)?;
    for (k, v) in method.params() {
        if k != "sigma" {
            inner = inner.with(k, v);
        }
    }
    let d = crate::denoise::build_denoiser(&inner)?;
    let t = Instant::now();
    let x = d.denoise(yr.view(), sigma)?;
    let secs = t.elapsed().as_secs_f64();
    let mut o = direct_counts(&method.name, AnyArray::Real(x), secs, OpCounts::default());
    o.summary = format!("{} (sigma = {sigma:.4}): {}", d.describe(), o.summary);
    Ok(o)
}

/// A per-iteration callback (progress display).
pub type ProgressFn = Box<dyn FnMut(&IterRecord) + Send>;

/// Options shared by all methods.
#[derive(Default)]
pub struct RunOptions {
    /// Ground truth: per-iteration PSNR in the records (data range 1).
    pub reference: Option<ArrayD<f32>>,
    /// Called after every iteration (progress display).
    pub progress: Option<ProgressFn>,
    /// Write one JSON object per iteration to this file, then a summary line; a direct
    /// method (no iterations) writes the summary line alone.
    pub json_log: Option<PathBuf>,
    /// Raised to stop an iterative method early (Ctrl-C).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The noise model the data were simulated with, when known (default parameters).
    pub noise: Option<NoiseModel>,
}

/// What a method returns.
pub struct Outcome {
    /// The estimate, in the operator's domain (real or complex).
    pub x: AnyArray,
    /// Iterations run (0 for direct methods).
    pub iterations: usize,
    /// Why it stopped.
    pub termination: String,
    /// Operator applications.
    pub counts: OpCounts,
    /// Wall-clock seconds of the reconstruction.
    pub seconds: f64,
    /// One-line report.
    pub summary: String,
    /// Per-iteration records.
    pub history: Vec<IterRecord>,
}

/// Element types that can travel in an [`AnyArray`].
pub trait ArrayElem: Scalar {
    /// Wrap an array.
    fn wrap(a: ArrayD<Self>) -> AnyArray;
    /// View an array of this element type, if it is one.
    fn view(a: &AnyArray) -> Option<ArrayViewD<'_, Self>>;
}

impl ArrayElem for f32 {
    fn wrap(a: ArrayD<f32>) -> AnyArray {
        AnyArray::Real(a)
    }
    fn view(a: &AnyArray) -> Option<ArrayViewD<'_, f32>> {
        match a {
            AnyArray::Real(r) => Some(r.view()),
            AnyArray::Complex(_) => None,
        }
    }
}

impl ArrayElem for c32 {
    fn wrap(a: ArrayD<c32>) -> AnyArray {
        AnyArray::Complex(a)
    }
    fn view(a: &AnyArray) -> Option<ArrayViewD<'_, c32>> {
        match a {
            AnyArray::Complex(c) => Some(c.view()),
            AnyArray::Real(_) => None,
        }
    }
}

pub(crate) fn expect<'a, T: ArrayElem>(a: &'a AnyArray, what: &str) -> Result<ArrayViewD<'a, T>> {
    T::view(a).ok_or_else(|| {
        Error::param(
            what,
            format!(
                "the operator expects {} data, got {}",
                if T::IS_COMPLEX { "complex" } else { "real" },
                if a.is_complex() { "complex" } else { "real" }
            ),
        )
    })
}

fn to_complex(x: &ArrayD<f32>) -> ArrayD<c32> {
    x.mapv(c32::from_real)
}

/// `y = A x + n` for a real image `x` (embedded as complex for complex-domain operators).
/// Noise is added only to measured entries: unsampled k-space and missing pixels stay zero
/// (see [`LinearOperator::measured`]).
pub fn simulate(
    op: &AnyOperator,
    x: &ArrayD<f32>,
    noise: &NoiseModel,
    seed: u64,
) -> Result<AnyArray> {
    crate::ops::check_shape(op.domain_shape(), x.shape(), "image vs operator domain")?;
    crate::io::check_finite("image", x.view())?;
    crate::io::check_magnitude("image", x.view())?;
    fn keep_measured<T: Scalar>(mut y: ArrayD<T>, mask: Option<ArrayD<bool>>) -> ArrayD<T> {
        if let Some(m) = mask {
            y.zip_mut_with(&m, |v, &k| {
                if !k {
                    *v = T::zero();
                }
            });
        }
        y
    }
    let y = match op {
        AnyOperator::Real(a) => AnyArray::Real(keep_measured(
            noise.apply_real(&a.apply(x.view()).view(), seed)?,
            a.measured(),
        )),
        AnyOperator::RealToComplex(a) => AnyArray::Complex(keep_measured(
            noise.apply_complex(&a.apply(x.view()).view(), seed)?,
            a.measured(),
        )),
        AnyOperator::Complex(a) => AnyArray::Complex(keep_measured(
            noise.apply_complex(&a.apply(to_complex(x).view()).view(), seed)?,
            a.measured(),
        )),
    };
    // a finite image can still overflow: e.g. `gaussian:sigma=3e38`
    if let Err(Error::NonFinite {
        count: overflow, ..
    }) = crate::io::check_finite_any("simulated measurements", &y)
    {
        return Err(Error::param(
            "noise",
            format!(
                "{overflow} simulated measurement(s) overflow single precision (not finite); \
                 lower the noise level or the image scale"
            ),
        ));
    }
    Ok(y)
}

/// `A x` for an array of the operator's domain (a real array is embedded for complex domains;
/// finite, magnitudes at most [`crate::io::MAX_MAGNITUDE`]).
pub fn forward(op: &AnyOperator, x: &AnyArray) -> Result<AnyArray> {
    crate::ops::check_shape(op.domain_shape(), x.shape(), "input vs operator domain")?;
    crate::io::check_finite_any("input", x)?;
    crate::io::check_magnitude_any("input", x)?;
    Ok(match op {
        AnyOperator::Real(a) => AnyArray::Real(a.apply(expect::<f32>(x, "input")?)),
        AnyOperator::RealToComplex(a) => AnyArray::Complex(a.apply(expect::<f32>(x, "input")?)),
        AnyOperator::Complex(a) => match x {
            AnyArray::Real(r) => AnyArray::Complex(a.apply(to_complex(r).view())),
            AnyArray::Complex(c) => AnyArray::Complex(a.apply(c.view())),
        },
    })
}

/// `A^H y` for measurements of the operator's range (finite, magnitudes at most
/// [`crate::io::MAX_MAGNITUDE`]).
pub fn adjoint(op: &AnyOperator, y: &AnyArray) -> Result<AnyArray> {
    crate::ops::check_shape(
        op.range_shape(),
        y.shape(),
        "measurements vs operator range",
    )?;
    crate::io::check_finite_any("measurements", y)?;
    crate::io::check_magnitude_any("measurements", y)?;
    Ok(match op {
        AnyOperator::Real(a) => AnyArray::Real(a.adjoint(expect::<f32>(y, "measurements")?)),
        AnyOperator::RealToComplex(a) => {
            AnyArray::Real(a.adjoint(expect::<c32>(y, "measurements")?))
        }
        AnyOperator::Complex(a) => AnyArray::Complex(a.adjoint(expect::<c32>(y, "measurements")?)),
    })
}

/// A [`Driver`] set up from the run options: reference PSNR, interrupt flag, JSON log and
/// progress callback.
pub fn driver_for<'a, T: Scalar>(
    opts: &'a mut RunOptions,
    max_iters: usize,
) -> Result<Driver<'a, T>> {
    let mut d = Driver::new(max_iters);
    if let Some(r) = &opts.reference {
        d = d.reference(r.clone(), 1.0);
    }
    if let Some(flag) = &opts.interrupt {
        d = d.interrupt(flag.clone());
    }
    if let Some(path) = &opts.json_log {
        let file = std::fs::File::create(path).map_err(|e| Error::Io {
            path: path.clone(),
            reason: format!("cannot create the log: {e}"),
        })?;
        d = d.observe(Box::new(JsonLog::new(std::io::BufWriter::new(file))));
    }
    if let Some(cb) = opts.progress.as_mut() {
        d = d.observe(Box::new(Callback::new(move |r: &IterRecord| cb(r))));
    }
    Ok(d)
}

/// The [`Outcome`] of a driver's report.
pub fn outcome<T: ArrayElem>(r: Report<T>) -> Outcome {
    Outcome {
        summary: r.summary(),
        iterations: r.iterations,
        termination: r.termination.to_string(),
        counts: r.counts,
        seconds: r.elapsed.as_secs_f64(),
        history: r.history,
        x: T::wrap(r.x),
    }
}

fn run_mle<O>(op: &O, y: &AnyArray, params: &MleParams, opts: &mut RunOptions) -> Result<Outcome>
where
    O: LinearOperator + ?Sized,
    O::Domain: ArrayElem,
    O::Range: ArrayElem,
{
    let y = expect::<O::Range>(y, "measurements")?;
    let report = crate::solve::mle(&op, y, params, driver_for(opts, params.max_iters)?)?;
    Ok(outcome(report))
}

fn direct(name: &str, x: AnyArray, seconds: f64, forward: u64, adjoint: u64) -> Outcome {
    direct_counts(name, x, seconds, OpCounts { forward, adjoint })
}

pub(crate) fn direct_counts(name: &str, x: AnyArray, seconds: f64, counts: OpCounts) -> Outcome {
    Outcome {
        summary: format!(
            "{name}: direct, {} A, {} A^H, {seconds:.3} s",
            counts.forward, counts.adjoint
        ),
        x,
        iterations: 0,
        termination: "direct".into(),
        counts,
        seconds,
        history: Vec::new(),
    }
}

/// Reconstruct `x` from `y` with the method of `method`.
pub fn reconstruct(
    op_spec: &Spec,
    op: &AnyOperator,
    y: &AnyArray,
    method: &Spec,
    mut opts: RunOptions,
) -> Result<Outcome> {
    crate::ops::check_shape(
        op.range_shape(),
        y.shape(),
        "measurements vs operator range",
    )?;
    crate::io::check_finite_any("measurements", y)?;
    crate::io::check_magnitude_any("measurements", y)?;
    if let Some(r) = &opts.reference {
        crate::ops::check_shape(op.domain_shape(), r.shape(), "reference vs operator domain")?;
    }
    let out = dispatch(op_spec, op, y, method, &mut opts)?;
    if let (Some(path), true) = (&opts.json_log, out.termination == "direct") {
        write_direct_log(path, method, &out)?;
    }
    Ok(out)
}

/// The JSON log of a direct method (no iterations): its summary line alone, in the form
/// an iterative run ends its log with, so a `--log` file always exists and parses the
/// same way.
fn write_direct_log(path: &std::path::Path, method: &Spec, out: &Outcome) -> Result<()> {
    use std::io::Write;
    let line = serde_json::json!({
        "summary": {
            "solver": method.name,
            "iterations": 0,
            "termination": { "reason": "direct" },
            "message": out.summary,
            "forward": out.counts.forward,
            "adjoint": out.counts.adjoint,
            "seconds": out.seconds,
        }
    });
    crate::io::atomic_write(path, |w| {
        serde_json::to_writer(&mut *w, &line)?;
        w.write_all(b"\n")
    })
}

fn dispatch(
    op_spec: &Spec,
    op: &AnyOperator,
    y: &AnyArray,
    method: &Spec,
    opts: &mut RunOptions,
) -> Result<Outcome> {
    match method.name.as_str() {
        "adjoint" => {
            method.args(&[])?;
            let t = Instant::now();
            let x = adjoint(op, y)?;
            Ok(direct("adjoint", x, t.elapsed().as_secs_f64(), 0, 1))
        }
        "fbp" => {
            let a = method.args(&["filter"])?;
            if op_spec.name != "ct" {
                return Err(Error::Spec(format!(
                    "`fbp` reconstructs CT data only, not `{}`; try `mle` or `adjoint`",
                    op_spec.name
                )));
            }
            let filter: crate::ops::ct_fbp::FbpFilter =
                a.str_opt("filter").unwrap_or("ramp").parse()?;
            let radon = crate::ops::ct::Radon::from_spec(op_spec, op.domain_shape())?;
            let sino = expect::<f32>(y, "measurements")?
                .into_dimensionality::<Ix2>()
                .map_err(|e| Error::param("measurements", e.to_string()))?;
            let t = Instant::now();
            let x = radon.fbp(sino, filter)?;
            let secs = t.elapsed().as_secs_f64();
            let x = x
                .into_dyn()
                .into_shape_with_order(IxDyn(op.domain_shape()))
                .map_err(|e| Error::param("fbp", e.to_string()))?;
            Ok(direct("fbp", AnyArray::Real(x), secs, 0, 1))
        }
        "mle" => {
            let params = MleParams::from_spec(method)?;
            match op {
                AnyOperator::Real(a) => run_mle(a, y, &params, opts),
                AnyOperator::RealToComplex(a) => run_mle(a, y, &params, opts),
                AnyOperator::Complex(a) => run_mle(a, y, &params, opts),
            }
        }
        name @ ("tikhonov" | "tv" | "wavelet" | "dct") => map::run(name, op, y, method, opts),
        name @ ("pnp-admm" | "pnp-hqs" | "pnp-drs" | "pnp-pgd" | "dpir" | "red") => {
            pnp::run(name, op_spec, op, y, method, opts)
        }
        "nlm" | "bm3d" | "wnnm" => run_denoiser(op_spec, y, method, opts),
        other if registered(other).is_some() => {
            let entry = registered(other).expect("checked above");
            (entry.run)(op_spec, op, y, method, opts)
        }
        other if crate::denoise::denoisers().iter().any(|d| d.name == other) => {
            run_denoiser(op_spec, y, method, opts)
        }
        other => {
            let names: Vec<&str> = methods().iter().map(|m| m.name).collect();
            Err(Error::Spec(format!(
                "unknown method `{other}`; valid methods: {}",
                names.join(", ")
            )))
        }
    }
}

/// The estimate as a real image for display and scoring: complex estimates become their
/// magnitude.
pub fn real_image(x: &AnyArray) -> ArrayD<f32> {
    match x {
        AnyArray::Real(r) => r.clone(),
        AnyArray::Complex(c) => c.mapv(|v| v.norm()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulate_refuses_scales_that_overflow() {
        let x = crate::phantom::shepp_logan(16).into_dyn();
        let op = crate::ops::build_operator("denoise", &[16, 16]).unwrap();
        let e = simulate(&op, &x, &NoiseModel::Gaussian { sigma: 3e38 }, 0).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        let e = simulate(&op, &x.mapv(|v| v * 1e16), &NoiseModel::None, 0).unwrap_err();
        assert!(e.to_string().contains("rescale"), "{e}");
        // the largest accepted scale still simulates
        simulate(&op, &x.mapv(|v| v * 1e15), &NoiseModel::None, 0).unwrap();
    }

    #[test]
    fn simulated_noise_stays_off_unmeasured_entries() {
        let x = crate::phantom::shepp_logan(32).into_dyn();
        let noise = NoiseModel::Gaussian { sigma: 0.1 };
        for spec in ["inpaint:keep=0.3,seed=1", "mri:accel=4,center=0.1,seed=2"] {
            let op = crate::ops::build_operator(spec, &[32, 32]).unwrap();
            let y = simulate(&op, &x, &noise, 7).unwrap();
            let mask = op
                .measured()
                .expect("masked operators report their measured entries");
            let (mut zeros, mut noisy) = (0, 0);
            match &y {
                AnyArray::Real(r) => r.iter().zip(mask.iter()).for_each(|(v, &m)| {
                    if m {
                        noisy += (*v != 0.0) as usize
                    } else {
                        zeros += (*v == 0.0) as usize
                    }
                }),
                AnyArray::Complex(c) => c.iter().zip(mask.iter()).for_each(|(v, &m)| {
                    if m {
                        noisy += (v.norm() != 0.0) as usize
                    } else {
                        zeros += (v.norm() == 0.0) as usize
                    }
                }),
            }
            let measured = mask.iter().filter(|&&m| m).count();
            assert_eq!(
                zeros,
                mask.len() - measured,
                "{spec}: unmeasured entries must stay 0"
            );
            assert_eq!(noisy, measured, "{spec}: measured entries carry noise");
        }
    }
}
