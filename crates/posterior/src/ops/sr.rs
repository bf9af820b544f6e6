//! `sr`: single-image super-resolution forward model `y = S (k * x)`: an anti-aliasing blur
//! with circular boundary followed by decimation by an integer factor `f`.
//!
//! Written with separable filter taps `w(t)`, every low-resolution pixel is
//!
//! ```text
//! y[m, n] = Σ_{s, t} w(s) w(t) x[(f m + s) mod H, (f n + t) mod W]
//! ```
//!
//! i.e. `S` keeps the top-left sample `(f m, f n)` of each `f x f` block of the blurred image
//! `k * x`, and the kernel's origin is placed so that the filters below are centred on the
//! *centre* of block `(m, n)`, the input coordinate `f m + (f - 1) / 2` (the convention of
//! MATLAB `imresize`; for even `f` that point lies between pixels):
//!
//! * `none`: no filter, `y[m, n] = x[f m, f n]` (plain decimation, top-left sample);
//! * `box`: `w(t) = 1/f` for `t = 0..f`: the mean of block `(m, n)` (area downsampling);
//! * `gaussian`: `w(t) ∝ exp(-(t - c)^2 / (2 std^2))` for `|t - c| <= 4 std`, with
//!   `c = (f - 1) / 2` and default `std = f / 2` (the response at the new Nyquist frequency
//!   `π / f` is `exp(-π^2 / 8) ≈ 0.29`); `4f` taps for even `f`, `4f + 1` for odd `f`;
//! * `bicubic`: `w(t) ∝ cubic((t - c) / f)` with Keys' cubic, `a = -1/2` (Keys 1981), the
//!   antialiasing kernel of MATLAB `imresize(x, 1/f, 'bicubic')`; for `f = 2` the taps are
//!   `[-3, -9, 29, 111, 111, 29, -9, -3] / 256`.
//!
//! Filters are normalized to sum to one. The boundary is circular (MATLAB uses symmetric
//! padding; the difference is confined to a `2f`-pixel border), so `k * x` is diagonalized by
//! the DFT and the closed-form solution of Zhao et al., "Fast single image super-resolution
//! using a new analytical solution for l2-l2 problems", IEEE TIP 2016, applies with the
//! [`transfer`](SuperResolution::transfer) function and [`factor`](SuperResolution::factor).
//!
//! The adjoint is `A^T y = k ⋆ (S^T y)`: zero-upsampling (`y[m, n]` placed at `(f m, f n)`)
//! followed by correlation with the kernel.

use ndarray::{Array2, ArrayD, ArrayViewD, ArrayViewMutD, IxDyn, Slice};

use super::blur::{Blur, Boundary, Method};
use super::kernels::Kernel;
use super::{LinearOperator, planes};
use crate::error::{Error, Result};
use crate::scalar::c32;
use crate::spec::Spec;

/// The anti-aliasing filter applied before decimation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter {
    /// Plain decimation.
    None,
    /// `f x f` block average.
    Box,
    /// Sampled Gaussian with this standard deviation (in high-resolution pixels).
    Gaussian {
        /// Standard deviation; the spec default is `f / 2`.
        std: f32,
    },
    /// Keys bicubic (`a = -1/2`) stretched by `f`, as MATLAB `imresize`.
    Bicubic,
}

impl Filter {
    fn name(&self) -> String {
        match self {
            Filter::None => "none".into(),
            Filter::Box => "box".into(),
            Filter::Gaussian { std } => format!("gaussian std={std}"),
            Filter::Bicubic => "bicubic".into(),
        }
    }
}

/// Keys' cubic convolution kernel with `a = -1/2`.
pub fn keys_cubic(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

/// The widest Gaussian anti-aliasing filter [`filter_taps`] builds, in taps.
pub const MAX_GAUSSIAN_TAPS: usize = 8193;

/// The separable taps `(t0, w)` of `filter` for factor `f`: `w[i]` multiplies
/// `x[f m + t0 + i]` in `y[m]`. Normalized to sum to one. `None` for [`Filter::None`].
pub fn filter_taps(filter: Filter, factor: usize) -> Result<Option<(isize, Vec<f64>)>> {
    let f = factor as f64;
    let c = (f - 1.0) / 2.0;
    let (t0, raw): (isize, Vec<f64>) = match filter {
        Filter::None => return Ok(None),
        Filter::Box => (0, vec![1.0; factor]),
        Filter::Gaussian { std } => {
            if !(std.is_finite() && std > 0.0) {
                return Err(Error::param(
                    "std",
                    format!("must be finite and > 0, got {std}"),
                ));
            }
            let s = std as f64;
            let r = 4.0 * s;
            // (bounded before anything is allocated: no image is wider than this)
            if 2.0 * r + 1.0 > MAX_GAUSSIAN_TAPS as f64 {
                return Err(Error::param(
                    "std",
                    format!(
                        "a gaussian of std {std} spans more than {MAX_GAUSSIAN_TAPS} taps (±4 std); \
                         use a smaller std"
                    ),
                ));
            }
            // The window ±4σ about the centre c, widened to include offset 0 (a narrow filter
            // for an odd factor sits at c > 4σ: it still needs the tap layout to cover 0).
            let lo = ((c - r).ceil() as isize).min(0);
            let hi = ((c + r).floor() as isize).max(0);
            let w: Vec<f64> = (lo..=hi)
                .map(|t| (-(t as f64 - c).powi(2) / (2.0 * s * s)).exp())
                .collect();
            if w.iter().sum::<f64>() <= 0.0 {
                return Err(Error::param(
                    "std",
                    format!(
                        "a gaussian of std {std} puts no weight on any sample for factor {factor} \
                         (its centre lies between samples); use std >= 0.1, or filter=none"
                    ),
                ));
            }
            (lo, w)
        }
        Filter::Bicubic => {
            // cubic((t - c) / f) is non-zero for |t - c| < 2 f
            let (lo, hi) = (
                (c - 2.0 * f).floor() as isize + 1,
                (c + 2.0 * f).ceil() as isize - 1,
            );
            let w = (lo..=hi).map(|t| keys_cubic((t as f64 - c) / f)).collect();
            (lo, w)
        }
    };
    let s: f64 = raw.iter().sum();
    Ok(Some((t0, raw.into_iter().map(|v| v / s).collect())))
}

/// Super-resolution forward operator `y = S (k * x)` (see the module docs for the exact
/// formula, the sampling phase and the filters). Images are `[H, W]` or `[C, H, W]` with
/// `H` and `W` multiples of the factor; the range is `[.., H / f, W / f]`.
///
/// ```
/// use posterior::ops::sr::{Filter, SuperResolution};
/// use posterior::ops::LinearOperator;
/// let op = SuperResolution::new(2, Filter::Box, &[4, 4]).unwrap();
/// let x = ndarray::Array::from_shape_fn((4, 4), |(i, j)| (4 * i + j) as f32).into_dyn();
/// let y = op.apply(x.view());
/// assert_eq!(y.shape(), &[2, 2]);
/// assert!((y[[0, 0]] - 2.5).abs() < 1e-5); // mean of 0, 1, 4, 5
/// ```
pub struct SuperResolution {
    factor: usize,
    filter: Filter,
    blur: Option<Blur>,
    domain: Vec<usize>,
    range: Vec<usize>,
}

impl SuperResolution {
    /// Decimate by `factor` after `filter`, for images of `shape`.
    pub fn new(factor: usize, filter: Filter, shape: &[usize]) -> Result<Self> {
        let (_, h, w) = planes(shape)?;
        if factor == 0 {
            return Err(Error::param("factor", "must be at least 1"));
        }
        if h % factor != 0 || w % factor != 0 {
            return Err(Error::param(
                "factor",
                format!(
                    "the image plane {h}x{w} is not a multiple of the factor {factor}; crop it to {}x{}",
                    h / factor * factor,
                    w / factor * factor
                ),
            ));
        }
        let blur = match filter_taps(filter, factor)? {
            None => None,
            Some((t0, taps)) => {
                let n = taps.len();
                if n > h || n > w {
                    return Err(Error::param(
                        "filter",
                        format!(
                            "the {n}x{n} {} filter for factor {factor} does not fit in the {h}x{w} image plane",
                            filter.name()
                        ),
                    ));
                }
                // y_blur[i] = Σ_a k[a] x[i - a + o] with o = t1 and k[a] = w(t1 - a)
                let t1 = t0 + n as isize - 1;
                let k = Array2::from_shape_fn((n, n), |(a, b)| {
                    (taps[n - 1 - a] * taps[n - 1 - b]) as f32
                });
                let origin = t1 as usize;
                if t1 < 0 || origin >= n {
                    // every filter here has t0 <= 0 <= t1 (the gaussian window is widened to
                    // include 0); guard the invariant anyway
                    return Err(Error::param("filter", "filter taps do not cover offset 0"));
                }
                Some(Blur::with_origin(
                    Kernel::new(k)?,
                    (origin, origin),
                    Boundary::Circular,
                    Method::Auto,
                    shape,
                )?)
            }
        };
        let mut range = shape.to_vec();
        let nd = range.len();
        range[nd - 2] /= factor;
        range[nd - 1] /= factor;
        Ok(SuperResolution {
            factor,
            filter,
            blur,
            domain: shape.to_vec(),
            range,
        })
    }

    /// Build from a spec `sr:factor=2,filter=bicubic|gaussian|box|none,std=...` (defaults:
    /// factor 2, bicubic; `std` only with gaussian, default `factor / 2`).
    pub fn from_spec(spec: &Spec, shape: &[usize]) -> Result<Self> {
        let args = spec.args(&["factor", "filter", "std"])?;
        let factor = args.usize_in("factor", 2, 1, 64)?;
        let kind = args.choice("filter", &["bicubic", "gaussian", "box", "none"], "bicubic")?;
        if args.has("std") && kind != "gaussian" {
            return Err(Error::Spec(format!(
                "`sr`: `std` applies to filter=gaussian only, not filter={kind}"
            )));
        }
        let filter = match kind.as_str() {
            "none" => Filter::None,
            "box" => Filter::Box,
            "gaussian" => Filter::Gaussian {
                std: args.positive_f32("std", 0.5 * factor as f32)?,
            },
            _ => Filter::Bicubic,
        };
        SuperResolution::new(factor, filter, shape)
    }

    /// The image shape whose measurements have `range` shape under `spec` (the last two
    /// axes multiplied by the factor).
    pub fn infer_domain(spec: &Spec, range: &[usize]) -> Result<Vec<usize>> {
        let factor = spec
            .args(&["factor", "filter", "std"])?
            .usize_in("factor", 2, 1, 64)?;
        planes(range)?;
        let mut d = range.to_vec();
        let nd = d.len();
        d[nd - 2] *= factor;
        d[nd - 1] *= factor;
        Ok(d)
    }

    /// The decimation factor `f`.
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// The anti-aliasing filter.
    pub fn filter(&self) -> Filter {
        self.filter
    }

    /// The circular blur `k * x` applied before decimation (`None` for plain decimation).
    pub fn blur(&self) -> Option<&Blur> {
        self.blur.as_ref()
    }

    /// The `H x W` transfer function of the blur (see [`Blur::transfer`]); `None` for plain
    /// decimation, whose transfer function is identically one.
    pub fn transfer(&self) -> Option<&Array2<c32>> {
        self.blur.as_ref().and_then(Blur::transfer)
    }

    fn sampled_axes(&self) -> impl Fn(ndarray::AxisDescription) -> Slice + '_ {
        let nd = self.domain.len();
        move |ad| {
            if ad.axis.index() + 2 >= nd {
                Slice::new(0, None, self.factor as isize)
            } else {
                Slice::from(..)
            }
        }
    }
}

/// The exact solver of `(AᵀA + ρ I) x = b` for a [`SuperResolution`] operator `A = S K`
/// (circular blur `K` with transfer function `K̂`, then `f`-fold decimation `S`), after
/// Zhao et al., "Fast single image super-resolution using a new analytical solution for
/// ℓ2–ℓ2 problems", IEEE TIP 25(8), 2016.
///
/// In the (unnormalized) DFT basis, zero-upsampling after decimation, `SᵀS`, averages the
/// `f²` aliased copies of the spectrum: `F(SᵀS v)(k) = f⁻² Σ_j V(k + j ⊙ (H/f, W/f))`, the
/// sum over `j ∈ {0..f−1}²`. So `F(AᵀA + ρI)F⁻¹` is block diagonal with one `f² x f²` block
/// per alias class, `ρ I + f⁻² d̄ dᵀ` with `d` the `f²` values of `K̂` in the class. The
/// Sherman–Morrison (Woodbury) identity inverts each block in closed form:
///
/// ```text
/// X = (B − d̄ (dᵀB) / (ρ f² + Σ|d|²)) / ρ
/// ```
///
/// two FFTs per plane and `O(HW)` work in between. Plain decimation uses `K̂ ≡ 1`.
pub struct SrNormalSolver {
    factor: usize,
    shape: Vec<usize>,
    transfer: Option<Array2<c32>>,
    fft: crate::fft::Fft2,
}

impl SrNormalSolver {
    /// The image shape the solver works on (the operator's domain).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// `out <- (AᵀA + ρ I)⁻¹ b` for `ρ > 0` (finite), `b` and `out` of the domain shape.
    pub fn solve_into(
        &self,
        b: ArrayViewD<f32>,
        rho: f32,
        mut out: ArrayViewMutD<f32>,
    ) -> Result<()> {
        if !(rho.is_finite() && rho > 0.0) {
            return Err(Error::param(
                "rho",
                format!("must be finite and > 0, got {rho}"),
            ));
        }
        super::check_shape(&self.shape, b.shape(), "sr normal-equation right-hand side")?;
        super::check_shape(&self.shape, out.shape(), "sr normal-equation output")?;
        let (c, h, w) = planes(&self.shape)?;
        let f = self.factor;
        let (hl, wl) = (h / f, w / f);
        let n = h * w;
        let f2 = (f * f) as f32;
        let b = b.as_standard_layout();
        let bs = b.as_slice().expect("standard layout");
        let mut res = vec![0.0f32; c * n];
        let mut buf = vec![c32::new(0.0, 0.0); n];
        let one = c32::new(1.0, 0.0);
        let scale = 1.0 / (rho * n as f32);
        for ch in 0..c {
            for (z, &v) in buf.iter_mut().zip(&bs[ch * n..(ch + 1) * n]) {
                *z = c32::new(v, 0.0);
            }
            self.fft.forward(&mut buf);
            let d = |i: usize| {
                self.transfer
                    .as_ref()
                    .map_or(one, |t| t.as_slice().expect("standard layout")[i])
            };
            for k1 in 0..hl {
                for k2 in 0..wl {
                    // dᵀB and Σ|d|² over the alias class of (k1, k2)
                    let mut dot = c32::new(0.0, 0.0);
                    let mut energy = 0.0f32;
                    for j1 in 0..f {
                        let row = (k1 + j1 * hl) * w;
                        for j2 in 0..f {
                            let i = row + k2 + j2 * wl;
                            let di = d(i);
                            dot += di * buf[i];
                            energy += di.norm_sqr();
                        }
                    }
                    let g = dot / (rho * f2 + energy);
                    for j1 in 0..f {
                        let row = (k1 + j1 * hl) * w;
                        for j2 in 0..f {
                            let i = row + k2 + j2 * wl;
                            buf[i] = (buf[i] - d(i).conj() * g) * scale;
                        }
                    }
                }
            }
            self.fft.inverse(&mut buf);
            for (r, z) in res[ch * n..(ch + 1) * n].iter_mut().zip(&buf) {
                *r = z.re;
            }
        }
        out.assign(&ArrayViewD::from_shape(IxDyn(&self.shape), &res).expect("shape"));
        Ok(())
    }
}

impl SuperResolution {
    /// The closed-form solver of `(AᵀA + ρ I) x = b` ([`SrNormalSolver`], Zhao et al. 2016):
    /// the exact data step of ADMM / half-quadratic splitting for super-resolution.
    pub fn normal_solver(&self) -> SrNormalSolver {
        let (_, h, w) = planes(&self.domain).expect("checked at construction");
        SrNormalSolver {
            factor: self.factor,
            shape: self.domain.clone(),
            transfer: self.transfer().cloned(),
            fft: crate::fft::Fft2::new(h, w),
        }
    }
}

impl LinearOperator for SuperResolution {
    type Domain = f32;
    type Range = f32;

    fn describe(&self) -> String {
        format!("sr(x{}, {})", self.factor, self.filter.name())
    }

    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }

    fn range_shape(&self) -> &[usize] {
        &self.range
    }

    fn apply_into(&self, x: ArrayViewD<f32>, mut y: ArrayViewMutD<f32>) {
        assert_eq!(x.shape(), &self.domain[..], "sr: input shape");
        assert_eq!(y.shape(), &self.range[..], "sr: output shape");
        match &self.blur {
            None => y.assign(&x.slice_each_axis(self.sampled_axes())),
            Some(b) => {
                let mut t = ArrayD::zeros(IxDyn(&self.domain));
                b.apply_into(x, t.view_mut());
                y.assign(&t.slice_each_axis(self.sampled_axes()));
            }
        }
    }

    fn adjoint_into(&self, y: ArrayViewD<f32>, mut x: ArrayViewMutD<f32>) {
        assert_eq!(y.shape(), &self.range[..], "sr: adjoint input shape");
        assert_eq!(x.shape(), &self.domain[..], "sr: adjoint output shape");
        match &self.blur {
            None => {
                x.fill(0.0);
                x.slice_each_axis_mut(self.sampled_axes()).assign(&y);
            }
            Some(b) => {
                let mut t = ArrayD::zeros(IxDyn(&self.domain));
                t.slice_each_axis_mut(self.sampled_axes()).assign(&y);
                b.adjoint_into(t.view(), x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::blur::tests::{check_adjoint, random_array};

    /// The defining formula with the separable taps.
    fn reference(x: &ArrayD<f32>, factor: usize, filter: Filter) -> ArrayD<f32> {
        let sh = x.shape().to_vec();
        let (c, h, w) = planes(&sh).unwrap();
        let (t0, taps) = filter_taps(filter, factor)
            .unwrap()
            .unwrap_or((0, vec![1.0]));
        let xs = x.as_slice().unwrap();
        let (hl, wl) = (h / factor, w / factor);
        let mut y = vec![0.0f32; c * hl * wl];
        for p in 0..c {
            for m in 0..hl {
                for n in 0..wl {
                    let mut acc = 0.0f64;
                    for (s, ws) in taps.iter().enumerate() {
                        let r = ((factor * m) as isize + t0 + s as isize).rem_euclid(h as isize);
                        for (t, wt) in taps.iter().enumerate() {
                            let q =
                                ((factor * n) as isize + t0 + t as isize).rem_euclid(w as isize);
                            acc += ws * wt * xs[p * h * w + r as usize * w + q as usize] as f64;
                        }
                    }
                    y[p * hl * wl + m * wl + n] = acc as f32;
                }
            }
        }
        let mut out = sh.clone();
        let nd = out.len();
        out[nd - 2] = hl;
        out[nd - 1] = wl;
        ArrayD::from_shape_vec(IxDyn(&out), y).unwrap()
    }

    const FILTERS: [Filter; 4] = [
        Filter::None,
        Filter::Box,
        Filter::Gaussian { std: 1.3 },
        Filter::Bicubic,
    ];

    #[test]
    fn matches_reference_and_adjoint() {
        for (factor, shape) in [
            (2usize, vec![12usize, 10]),
            (3, vec![2, 15, 18]),
            (4, vec![16, 20]),
        ] {
            let x = random_array(&shape, factor as u64);
            for filter in FILTERS {
                let op = SuperResolution::new(factor, filter, &shape).unwrap();
                let y = op.apply(x.view());
                let r = reference(&x, factor, filter);
                assert_eq!(y.shape(), r.shape());
                let d = y
                    .iter()
                    .zip(r.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(d < 1e-5, "f={factor} {filter:?}: {d}");
                check_adjoint(&op, 7, 1e-5);
            }
        }
    }

    #[test]
    fn zhao_solver_inverts_the_shifted_normal_operator() {
        for (factor, shape, filter) in [
            (2usize, vec![12usize, 10], Filter::Bicubic),
            (3, vec![2, 15, 18], Filter::Gaussian { std: 1.3 }),
            (4, vec![16, 20], Filter::Box),
            (2, vec![8, 6], Filter::None),
        ] {
            let op = SuperResolution::new(factor, filter, &shape).unwrap();
            let solver = op.normal_solver();
            let x: ArrayD<f32> = random_array(&shape, 11);
            for rho in [1e-2f32, 0.7, 5.0] {
                // b = (AᵀA + ρI) x, then solve back
                let mut b = op.adjoint(op.apply(x.view()).view());
                b.zip_mut_with(&x, |b, &v| *b += rho * v);
                let mut out = ArrayD::zeros(IxDyn(&shape));
                solver.solve_into(b.view(), rho, out.view_mut()).unwrap();
                let err = (&out - &x).iter().map(|v| v * v).sum::<f32>().sqrt()
                    / x.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!(err < 2e-4, "f={factor} {filter:?} rho={rho}: {err}");
            }
            assert!(
                solver
                    .solve_into(x.view(), 0.0, ArrayD::zeros(IxDyn(&shape)).view_mut())
                    .is_err()
            );
        }
    }

    #[test]
    fn bicubic_taps_match_imresize() {
        let (t0, w) = filter_taps(Filter::Bicubic, 2).unwrap().unwrap();
        assert_eq!(t0, -3);
        let want = [-3.0, -9.0, 29.0, 111.0, 111.0, 29.0, -9.0, -3.0].map(|v| v / 256.0);
        assert_eq!(w.len(), 8);
        for (a, b) in w.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{w:?}");
        }
        // odd factor: centred on the block's centre pixel, 4f - 1 non-zero taps
        let (t0, w) = filter_taps(Filter::Bicubic, 3).unwrap().unwrap();
        assert_eq!((t0, w.len()), (-4, 11));
        for i in 0..w.len() {
            assert!((w[i] - w[w.len() - 1 - i]).abs() < 1e-12);
        }
        assert_eq!(keys_cubic(0.0), 1.0);
        assert_eq!(keys_cubic(1.0), 0.0);
        assert_eq!(keys_cubic(2.0), 0.0);
    }

    #[test]
    fn box_is_block_mean_and_none_is_top_left() {
        let shape = [6, 9];
        let x = random_array(&shape, 3);
        let b = SuperResolution::new(3, Filter::Box, &shape).unwrap();
        let y = b.apply(x.view());
        for m in 0..2 {
            for n in 0..3 {
                let mut s = 0.0;
                for i in 0..3 {
                    for j in 0..3 {
                        s += x[[3 * m + i, 3 * n + j]];
                    }
                }
                assert!((y[[m, n]] - s / 9.0).abs() < 1e-5);
            }
        }
        let d = SuperResolution::new(3, Filter::None, &shape).unwrap();
        let y = d.apply(x.view());
        assert_eq!(y[[1, 2]], x[[3, 6]]);
        assert!(d.transfer().is_none() && b.transfer().is_some());
    }

    #[test]
    fn constants_preserved_and_spec() {
        let shape = [2, 16, 24];
        let x = ArrayD::from_elem(IxDyn(&shape), 0.3f32);
        for kind in ["bicubic", "gaussian", "box", "none"] {
            let spec = Spec::parse(&format!("sr:factor=4,filter={kind}")).unwrap();
            let op = SuperResolution::from_spec(&spec, &shape).unwrap();
            assert_eq!(op.range_shape(), &[2, 4, 6]);
            assert!(op.apply(x.view()).iter().all(|v| (v - 0.3).abs() < 1e-5));
            assert_eq!(
                SuperResolution::infer_domain(&spec, op.range_shape()).unwrap(),
                shape
            );
        }
        let sp = |s: &str| Spec::parse(s).unwrap();
        let op = SuperResolution::from_spec(&sp("sr:filter=gaussian"), &shape).unwrap();
        assert_eq!(op.filter(), Filter::Gaussian { std: 1.0 });
        assert_eq!(op.factor(), 2);
        let e = SuperResolution::from_spec(&sp("sr:factor=3"), &[12, 10]).err();
        assert!(e.unwrap().to_string().contains("multiple"));
        assert!(SuperResolution::from_spec(&sp("sr:filter=box,std=1"), &shape).is_err());
        // the 16-tap bicubic filter of factor 4 does not fit an 8x8 plane
        assert!(SuperResolution::from_spec(&sp("sr:factor=4"), &[8, 8]).is_err());
    }

    #[test]
    fn gaussian_filters_narrow_and_wide() {
        // A filter narrower than its offset from the first sample is centre-sample
        // decimation (factor 3: the tap at offset 1), not an error.
        let (t0, w) = filter_taps(Filter::Gaussian { std: 0.2 }, 3)
            .unwrap()
            .unwrap();
        assert_eq!(t0, 0);
        assert!(w[1] > 0.999 && w.iter().sum::<f64>() - 1.0 < 1e-12, "{w:?}");
        let op = SuperResolution::new(3, Filter::Gaussian { std: 0.2 }, &[9, 9]).unwrap();
        let x = ArrayD::from_shape_fn(IxDyn(&[9, 9]), |i| (i[0] * 9 + i[1]) as f32);
        let y = op.apply(x.view());
        assert!(
            (y[[1, 2]] - x[[4, 7]]).abs() < 1e-2,
            "{} vs {}",
            y[[1, 2]],
            x[[4, 7]]
        );
        // A gaussian with no weight on any sample, or wider than any image: clear errors,
        // before anything is allocated.
        let e = filter_taps(Filter::Gaussian { std: 0.01 }, 2).unwrap_err();
        assert!(e.to_string().contains("no weight"), "{e}");
        for std in [1e4f32, 1e12, 1e30] {
            let e = filter_taps(Filter::Gaussian { std }, 2).unwrap_err();
            assert!(e.to_string().contains("taps"), "{e}");
        }
    }
}
