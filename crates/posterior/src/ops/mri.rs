//! `mri`: single-coil 2-D Cartesian MRI, `y = M F x`.
//!
//! * `F` is the orthonormal **centred** 2-D DFT of every `H x W` plane,
//!   `F x = fftshift(fft2(ifftshift(x)))` with `norm="ortho"`: image and k-space both have
//!   their origin at index `(H/2, W/2)` (integer division), so
//!   `(F x)[u, v] = (H W)^{-1/2} Σ_{i,j} x[i, j] exp(-2πi ((u-H/2)(i-H/2)/H + (v-W/2)(j-W/2)/W))`.
//!   `F` is unitary: `F^H F = I`.
//! * `M` is a 0/1 sampling mask on the centred k-space grid, the same for every plane.
//!
//! The range is the full k-space grid (complex, the image's shape), with zeros where `M`
//! does not sample. The adjoint `F^H M y` is the zero-filled reconstruction.
//!
//! Two element-type variants share one implementation, [`Mri<D>`]: complex images
//! ([`ComplexMri`], `D = c32`) and real images ([`RealMri`], `D = f32`), whose adjoint for
//! the real inner product is `Re(F^H M y)`.
//!
//! `A^H A` is diagonal in the Fourier domain: `A^H A = F^H diag(d) F` with `d` =
//! [`Mri::fourier_diagonal`] (the mask for complex images; the point-symmetrized mask
//! `(M + M(-k))/2` for real images, because `Re(F^H M F x) = F^H ((M + M(-k))/2) F x` when
//! `x` is real). [`Mri::solve_normal_shifted`] uses this to apply `(A^H A + ρ I)^{-1}`
//! exactly in `O(N log N)`.
//!
//! Masks ([`MaskKind`]): Cartesian phase-encode lines (rows of k-space along the first
//! image axis) with a fully sampled centre band, chosen at random or equispaced, or a
//! variable-density random 2-D point mask (M. Lustig, D. Donoho, J. M. Pauly, "Sparse MRI:
//! the application of compressed sensing for rapid MR imaging", Magn. Reson. Med. 58(6),
//! 2007). A mask can also be read from a file ([`read_mask`], spec `mri:mask=PATH`), e.g.
//! the one a Python peer used, in the same centred layout as `sigpy.fft(center=True)`.

use std::marker::PhantomData;

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD};
use rand::RngExt;
use rayon::prelude::*;

use super::{AnyOperator, LinearOperator, planes};
use crate::error::{Error, Result};
use crate::fft::Fft2;
use crate::scalar::{Scalar, c32};
use crate::spec::Spec;

/// How the non-central phase-encode lines of a [`MaskKind::Lines`] mask are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineSelection {
    /// Uniformly at random without replacement among the non-centre rows (seeded).
    Random,
    /// Evenly spread over the non-centre rows, in order: the `j`-th of `k` chosen lines
    /// is the non-centre row of rank `floor((j + 1/2) L / k)` among the `L` non-centre
    /// rows, so consecutive choices are `floor(L/k)` or `ceil(L/k)` ranks apart.
    /// Deterministic (the seed is not used).
    Equispaced,
}

/// A k-space sampling pattern for `H x W` planes (see [`MaskKind::generate`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaskKind {
    /// Whole k-space rows (phase-encode lines along axis 0).
    Lines {
        /// Acceleration `R >= 1`: `round(H / R)` rows are sampled in total.
        accel: f64,
        /// Fraction of rows in the fully sampled centre band: the `round(center H)` rows
        /// centred on row `H/2`.
        center: f64,
        /// How the remaining rows are chosen.
        selection: LineSelection,
    },
    /// A variable-density random point mask.
    Vd2d {
        /// Acceleration `R >= 1`: the expected number of samples is `round(H W / R)`.
        accel: f64,
        /// Radius of the fully sampled centre ellipse, in the normalized radius `ρ`
        /// (semi-axes `center H/2` and `center W/2` pixels).
        center: f64,
        /// Exponent `p > 0` of the polynomial density `(1 - ρ/ρ_far)^p`.
        power: f64,
    },
}

impl MaskKind {
    /// Draw the mask for `h x w` planes: `true` where k-space is sampled, on the centred
    /// grid (row `h/2`, column `w/2` is the zero frequency).
    ///
    /// * `Lines`: see [`LineSelection`]. Errors when the centre band alone exceeds the
    ///   `round(H/R)` rows.
    /// * `Vd2d`: with the normalized radius
    ///   `ρ(u, v) = sqrt(((u - h/2)/(h/2))^2 + ((v - w/2)/(w/2))^2)`, points with
    ///   `ρ <= center` are always sampled; every other point is sampled independently with
    ///   probability `min(1, α (1 - ρ/ρ_far)^p)`, where `ρ_far` lies one pixel beyond the
    ///   farthest grid point and `α` is found by bisection so that the expected total is
    ///   exactly `round(h w / R)`. Errors when the centre ellipse alone exceeds it.
    pub fn generate(&self, h: usize, w: usize, seed: u64) -> Result<Array2<bool>> {
        if h == 0 || w == 0 {
            return Err(Error::param("shape", "k-space planes must be non-empty"));
        }
        match *self {
            MaskKind::Lines {
                accel,
                center,
                selection,
            } => line_mask(h, w, accel, center, selection, seed),
            MaskKind::Vd2d {
                accel,
                center,
                power,
            } => vd2d_mask(h, w, accel, center, power, seed),
        }
    }

    fn describe(&self, seed: u64) -> String {
        // parameters come from f32 spec values: print them at f32 precision (0.2, not
        // 0.20000000298023224)
        let f = |v: f64| v as f32;
        match *self {
            MaskKind::Lines {
                accel,
                center,
                selection: LineSelection::Random,
            } => format!(
                "lines: accel={} center={} random seed={seed}",
                f(accel),
                f(center)
            ),
            MaskKind::Lines {
                accel,
                center,
                selection: LineSelection::Equispaced,
            } => format!("lines: accel={} center={} equispaced", f(accel), f(center)),
            MaskKind::Vd2d {
                accel,
                center,
                power,
            } => format!(
                "vd2d: accel={} center={} power={} seed={seed}",
                f(accel),
                f(center),
                f(power)
            ),
        }
    }
}

fn check_accel_center(accel: f64, center: f64) -> Result<()> {
    if !(accel.is_finite() && accel >= 1.0) {
        return Err(Error::param(
            "accel",
            format!("the acceleration must be a finite number >= 1, got {accel}"),
        ));
    }
    if !(0.0..=1.0).contains(&center) {
        return Err(Error::param(
            "center",
            format!("the centre fraction must be in [0, 1], got {center}"),
        ));
    }
    Ok(())
}

fn line_mask(
    h: usize,
    w: usize,
    accel: f64,
    center: f64,
    selection: LineSelection,
    seed: u64,
) -> Result<Array2<bool>> {
    check_accel_center(accel, center)?;
    let keep = ((h as f64 / accel).round() as usize).clamp(1, h);
    let n_center = ((center * h as f64).round() as usize).min(h);
    if n_center > keep {
        return Err(Error::param(
            "center",
            format!(
                "center={} asks for {n_center} central lines of {h}, but accel={} keeps only {keep}; lower center or accel",
                // the spec's f32 values, printed as given (not widened to f64 digits)
                center as f32,
                accel as f32
            ),
        ));
    }
    let start = h / 2 - n_center / 2;
    let mut rows = vec![false; h];
    rows[start..start + n_center]
        .iter_mut()
        .for_each(|r| *r = true);
    let candidates: Vec<usize> = (0..h).filter(|&r| !rows[r]).collect();
    let k = keep - n_center;
    let l = candidates.len();
    match selection {
        LineSelection::Random => {
            let mut rng = crate::rng(seed);
            for i in rand::seq::index::sample(&mut rng, l, k) {
                rows[candidates[i]] = true;
            }
        }
        LineSelection::Equispaced => {
            for j in 0..k {
                rows[candidates[((2 * j + 1) * l) / (2 * k)]] = true;
            }
        }
    }
    Ok(Array2::from_shape_fn((h, w), |(u, _)| rows[u]))
}

fn vd2d_mask(
    h: usize,
    w: usize,
    accel: f64,
    center: f64,
    power: f64,
    seed: u64,
) -> Result<Array2<bool>> {
    check_accel_center(accel, center)?;
    if !(power.is_finite() && power > 0.0) {
        return Err(Error::param(
            "power",
            format!("the density exponent must be > 0, got {power}"),
        ));
    }
    let total = h * w;
    let target = ((total as f64 / accel).round() as usize).clamp(1, total);
    let (hh, hw) = ((h as f64 / 2.0).max(0.5), (w as f64 / 2.0).max(0.5));
    let (ch, cw) = ((h / 2) as f64, (w / 2) as f64);
    let rho: Vec<f64> = (0..total)
        .map(|idx| {
            let du = (idx / w) as f64 - ch;
            let dv = (idx % w) as f64 - cw;
            ((du / hh).powi(2) + (dv / hw).powi(2)).sqrt()
        })
        .collect();
    let rho_max = rho.iter().fold(0.0f64, |a, &b| a.max(b));
    let rho_far = rho_max + 1.0 / hh.min(hw);
    let in_disc = |r: f64| r <= center;
    let n_disc = rho.iter().filter(|&&r| in_disc(r)).count();
    if n_disc > target {
        return Err(Error::param(
            "center",
            format!(
                "center={center} fully samples {n_disc} of {total} points, more than the {target} that accel={accel} allows; lower center or accel"
            ),
        ));
    }
    // raw density outside the centre ellipse, strictly positive
    let q: Vec<f64> = rho
        .iter()
        .map(|&r| {
            if in_disc(r) {
                0.0
            } else {
                (1.0 - r / rho_far).powf(power)
            }
        })
        .collect();
    let budget = (target - n_disc) as f64;
    let outside = total - n_disc;
    // (v = 0 where a large power underflowed: never sampled, and no NaN from ∞ · 0)
    let p_of = |alpha: f64, v: f64| if v > 0.0 { (alpha * v).min(1.0) } else { 0.0 };
    let prob_for = |alpha: f64| -> f64 { q.iter().map(|&v| p_of(alpha, v)).sum() };
    let positive = q.iter().filter(|&&v| v > 0.0).count();
    let alpha = if target - n_disc >= outside {
        f64::INFINITY
    } else if (positive as f64) < budget {
        return Err(Error::param(
            "power",
            format!(
                "power={power} makes the density underflow to zero on all but {positive} \
                 points outside the centre, fewer than the {budget} that accel={accel} needs; \
                 lower power"
            ),
        ));
    } else {
        // the expected count is continuous and non-decreasing in alpha
        let mut lo = 0.0f64;
        let mut hi = 1.0f64;
        while prob_for(hi) < budget {
            hi *= 2.0;
        }
        // 64 halvings of [0, hi] reach f64 resolution
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if prob_for(mid) < budget {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let mut rng = crate::rng(seed);
    let mut mask = Array2::from_elem((h, w), false);
    for (m, (&r, &v)) in mask.iter_mut().zip(rho.iter().zip(&q)) {
        // one draw per point keeps the pattern a function of the seed alone
        let u: f64 = rng.random();
        *m = in_disc(r) || alpha.is_infinite() || u < p_of(alpha, v);
    }
    Ok(mask)
}

/// `out <- F x` for one row-major `h x w` plane: the orthonormal centred 2-D DFT
/// `fftshift(fft2(ifftshift(x)))` (see the module docs).
///
/// # Panics
/// If the slices are not `h * w` long for the plan's `h x w`.
pub fn centered_fft2(fft: &Fft2, x: &[c32], out: &mut [c32]) {
    let (h, w) = (fft.height(), fft.width());
    let mut buf = vec![c32::new(0.0, 0.0); h * w];
    load_centred(x, &mut buf, h, w, |v| v);
    fft.forward_ortho(&mut buf);
    store_centred(&buf, out, h, w, |v| v);
}

/// `out <- F^H y` for one plane: the inverse of [`centered_fft2`],
/// `fftshift(ifft2(ifftshift(y)))` with orthonormal scaling.
///
/// # Panics
/// If the slices are not `h * w` long for the plan's `h x w`.
pub fn centered_ifft2(fft: &Fft2, y: &[c32], out: &mut [c32]) {
    let (h, w) = (fft.height(), fft.width());
    let mut buf = vec![c32::new(0.0, 0.0); h * w];
    load_centred(y, &mut buf, h, w, |v| v);
    fft.inverse_ortho(&mut buf);
    store_centred(&buf, out, h, w, |v| v);
}

/// `dst <- ifftshift(conv(src))`: centred index `c` goes to raw index `(c + n - n/2) mod n`
/// along both axes.
fn load_centred<T: Copy>(src: &[T], dst: &mut [c32], h: usize, w: usize, conv: impl Fn(T) -> c32) {
    assert_eq!(src.len(), h * w, "plane length");
    assert_eq!(dst.len(), h * w, "plane length");
    let (sh, sw) = (h - h / 2, w - w / 2);
    for (i, row) in src.chunks_exact(w).enumerate() {
        let r = (i + sh) % h;
        let d = &mut dst[r * w..(r + 1) * w];
        // d[(j + sw) % w] = row[j]
        let (head, tail) = row.split_at(w - sw);
        d[sw..]
            .iter_mut()
            .zip(head)
            .for_each(|(o, &v)| *o = conv(v));
        d[..sw]
            .iter_mut()
            .zip(tail)
            .for_each(|(o, &v)| *o = conv(v));
    }
}

/// `dst <- conv(fftshift(src))`: raw index `r` goes to centred index `(r + n/2) mod n`.
fn store_centred<T>(src: &[c32], dst: &mut [T], h: usize, w: usize, conv: impl Fn(c32) -> T) {
    assert_eq!(src.len(), h * w, "plane length");
    assert_eq!(dst.len(), h * w, "plane length");
    let (sh, sw) = (h / 2, w / 2);
    for (r, row) in src.chunks_exact(w).enumerate() {
        let c = (r + sh) % h;
        let d = &mut dst[c * w..(c + 1) * w];
        let (head, tail) = row.split_at(w - sw);
        d[sw..]
            .iter_mut()
            .zip(head)
            .for_each(|(o, &v)| *o = conv(v));
        d[..sw]
            .iter_mut()
            .zip(tail)
            .for_each(|(o, &v)| *o = conv(v));
    }
}

/// Run `f` on `y` as a contiguous slice (through a temporary when `y` is not contiguous).
fn with_out_slice<T: Copy + Default>(mut y: ArrayViewMutD<T>, f: impl FnOnce(&mut [T])) {
    if let Some(s) = y.as_slice_mut() {
        f(s);
        return;
    }
    let mut tmp = vec![T::default(); y.len()];
    f(&mut tmp);
    y.iter_mut().zip(tmp).for_each(|(o, v)| *o = v);
}

#[inline]
fn to_c32<D: Scalar>(v: D) -> c32 {
    c32::new(v.re(), v.im())
}

#[inline]
fn from_c32<D: Scalar>(v: c32) -> D {
    D::from_parts(v.re, v.im)
}

/// Single-coil Cartesian MRI `y = M F x` on images of element type `D` (`c32` or `f32`);
/// see the module docs. Planes of a `[C, H, W]` image are transformed in parallel.
pub struct Mri<D: Scalar> {
    shape: Vec<usize>,
    c: usize,
    h: usize,
    w: usize,
    mask: Array2<bool>,
    /// The mask in the FFT's native (uncentred) order, as 0/1 factors.
    raw_mask: Vec<f32>,
    /// `d` with `A^H A = F^H diag(d) F`, centred layout.
    diag: Array2<f32>,
    fft: Fft2,
    label: String,
    _d: PhantomData<D>,
}

/// MRI of complex images (`AnyOperator::Complex`).
pub type ComplexMri = Mri<c32>;
/// MRI of real images (`AnyOperator::RealToComplex`): the adjoint is `Re(F^H M y)`.
pub type RealMri = Mri<f32>;

impl<D: Scalar> Mri<D> {
    /// MRI for images of `shape` (`[H, W]` or `[C, H, W]`) with a given `H x W` centred
    /// k-space `mask` (`true` = sampled).
    pub fn new(shape: &[usize], mask: Array2<bool>) -> Result<Self> {
        Self::with_label(shape, mask, "custom mask".into())
    }

    /// MRI with a mask drawn from `kind` (see [`MaskKind::generate`]).
    pub fn from_kind(shape: &[usize], kind: MaskKind, seed: u64) -> Result<Self> {
        let (_, h, w) = planes(shape)?;
        let mask = kind.generate(h, w, seed)?;
        Self::with_label(shape, mask, kind.describe(seed))
    }

    fn with_label(shape: &[usize], mask: Array2<bool>, label: String) -> Result<Self> {
        let (c, h, w) = planes(shape)?;
        super::check_shape(&[h, w], mask.shape(), "MRI mask (must be H x W)")?;
        let mut raw = vec![false; h * w];
        let centred: Vec<bool> = mask.iter().copied().collect();
        load_centred_bool(&centred, &mut raw, h, w);
        let raw_mask = raw.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let diag = if D::IS_COMPLEX {
            mask.mapv(|b| if b { 1.0 } else { 0.0 })
        } else {
            // reflection k -> -k on the centred grid: u -> (2 (h/2) - u) mod h
            Array2::from_shape_fn((h, w), |(u, v)| {
                let ru = (2 * (h / 2) + h - u) % h;
                let rv = (2 * (w / 2) + w - v) % w;
                0.5 * (mask[[u, v]] as u8 as f32 + mask[[ru, rv]] as u8 as f32)
            })
        };
        Ok(Mri {
            shape: shape.to_vec(),
            c,
            h,
            w,
            mask,
            raw_mask,
            diag,
            fft: Fft2::new(h, w),
            label,
            _d: PhantomData,
        })
    }

    /// The centred `H x W` sampling mask (`true` = sampled), shared by all planes.
    pub fn mask(&self) -> &Array2<bool> {
        &self.mask
    }

    /// Fraction of k-space points sampled.
    pub fn sampling_fraction(&self) -> f64 {
        self.mask.iter().filter(|&&b| b).count() as f64 / (self.h * self.w) as f64
    }

    /// The Fourier-domain diagonal of the normal operator: `A^H A = F^H diag(d) F` on every
    /// plane, with `d` on the centred `H x W` grid. For complex images `d` is the mask
    /// (0/1); for real images it is `(M(k) + M(-k))/2` (values 0, 1/2, 1), since
    /// `Re(F^H M F x) = F^H diag(d) F x` for real `x`. Solvers may use it to apply
    /// `(A^H A + ρ I)^{-1}` exactly (see [`solve_normal_shifted`](Self::solve_normal_shifted)).
    pub fn fourier_diagonal(&self) -> ArrayView2<'_, f32> {
        self.diag.view()
    }

    /// The planned 2-D FFT used for `F` (with [`centered_fft2`] / [`centered_ifft2`]).
    pub fn fft(&self) -> &Fft2 {
        &self.fft
    }

    /// `out <- F^H diag(g) F x` on every plane for a centred `H x W` multiplier `g`. For
    /// real images the real part is stored, which is the exact result when `g` is
    /// point-symmetric (`g(k) = g(-k)`, as for [`fourier_diagonal`](Self::fourier_diagonal)
    /// and functions of it).
    ///
    /// # Panics
    /// If shapes differ from the domain shape or `g` is not `H x W`.
    pub fn fourier_multiply(&self, x: ArrayViewD<D>, g: ArrayView2<f32>, out: ArrayViewMutD<D>) {
        let (h, w) = (self.h, self.w);
        assert_eq!(g.shape(), &[h, w], "Fourier multiplier must be H x W");
        let centred: Vec<f32> = g.iter().copied().collect();
        let mut raw = vec![0.0f32; h * w];
        load_centred_real(&centred, &mut raw, h, w);
        self.multiply_planes(x, out, &raw);
    }

    /// `out <- (A^H A + ρ I)^{-1} b = F^H diag(1 / (d + ρ)) F b`, with `d` the
    /// [`fourier_diagonal`](Self::fourier_diagonal): the exact proximal/ADMM/HQS data step
    /// in two FFTs per plane.
    ///
    /// # Panics
    /// If `rho <= 0` or not finite, or shapes differ from the domain shape.
    pub fn solve_normal_shifted(&self, b: ArrayViewD<D>, rho: f32, out: ArrayViewMutD<D>) {
        assert!(
            rho.is_finite() && rho > 0.0,
            "solve_normal_shifted: rho must be > 0, got {rho}"
        );
        let g = self.diag.mapv(|d| 1.0 / (d + rho));
        self.fourier_multiply(b, g.view(), out);
    }

    /// `out <- F^H diag(raw) F x` per plane, `raw` in the FFT's native order; real images
    /// keep the real part.
    fn multiply_planes(&self, x: ArrayViewD<D>, out: ArrayViewMutD<D>, raw: &[f32]) {
        assert_eq!(x.shape(), &self.shape[..], "mri: domain shape");
        assert_eq!(out.shape(), &self.shape[..], "mri: domain shape");
        let (h, w) = (self.h, self.w);
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        with_out_slice(out, |os| {
            os.par_chunks_mut(h * w)
                .zip(xs.par_chunks(h * w))
                .for_each(|(o, xp)| {
                    let mut buf = vec![c32::new(0.0, 0.0); h * w];
                    load_centred(xp, &mut buf, h, w, to_c32);
                    self.fft.forward_ortho(&mut buf);
                    buf.iter_mut().zip(raw).for_each(|(b, &m)| *b *= m);
                    self.fft.inverse_ortho(&mut buf);
                    store_centred(&buf, o, h, w, from_c32::<D>);
                });
        });
    }
}

fn load_centred_bool(src: &[bool], dst: &mut [bool], h: usize, w: usize) {
    for (c, &v) in src.iter().enumerate() {
        let (i, j) = (c / w, c % w);
        dst[((i + h - h / 2) % h) * w + (j + w - w / 2) % w] = v;
    }
}

fn load_centred_real(src: &[f32], dst: &mut [f32], h: usize, w: usize) {
    for (c, &v) in src.iter().enumerate() {
        let (i, j) = (c / w, c % w);
        dst[((i + h - h / 2) % h) * w + (j + w - w / 2) % w] = v;
    }
}

impl<D: Scalar> LinearOperator for Mri<D> {
    type Domain = D;
    type Range = c32;

    fn describe(&self) -> String {
        format!(
            "mri({}; {:.1}% of k-space; {} image{})",
            self.label,
            100.0 * self.sampling_fraction(),
            if D::IS_COMPLEX { "complex" } else { "real" },
            if self.c > 1 {
                format!(", {} planes", self.c)
            } else {
                String::new()
            }
        )
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }

    fn apply_into(&self, x: ArrayViewD<D>, y: ArrayViewMutD<c32>) {
        assert_eq!(x.shape(), &self.shape[..], "mri apply: domain shape");
        assert_eq!(y.shape(), &self.shape[..], "mri apply: range shape");
        let (h, w) = (self.h, self.w);
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        with_out_slice(y, |ys| {
            ys.par_chunks_mut(h * w)
                .zip(xs.par_chunks(h * w))
                .for_each(|(yp, xp)| {
                    let mut buf = vec![c32::new(0.0, 0.0); h * w];
                    load_centred(xp, &mut buf, h, w, to_c32);
                    self.fft.forward_ortho(&mut buf);
                    buf.iter_mut()
                        .zip(&self.raw_mask)
                        .for_each(|(b, &m)| *b *= m);
                    store_centred(&buf, yp, h, w, |v| v);
                });
        });
    }

    fn adjoint_into(&self, y: ArrayViewD<c32>, x: ArrayViewMutD<D>) {
        assert_eq!(y.shape(), &self.shape[..], "mri adjoint: range shape");
        assert_eq!(x.shape(), &self.shape[..], "mri adjoint: domain shape");
        let (h, w) = (self.h, self.w);
        let y = y.as_standard_layout();
        let ys = y.as_slice().expect("standard layout");
        with_out_slice(x, |xs| {
            xs.par_chunks_mut(h * w)
                .zip(ys.par_chunks(h * w))
                .for_each(|(xp, yp)| {
                    let mut buf = vec![c32::new(0.0, 0.0); h * w];
                    load_centred(yp, &mut buf, h, w, |v| v);
                    buf.iter_mut()
                        .zip(&self.raw_mask)
                        .for_each(|(b, &m)| *b *= m);
                    self.fft.inverse_ortho(&mut buf);
                    store_centred(&buf, xp, h, w, from_c32::<D>);
                });
        });
    }

    /// `A^H A x = F^H M F x` (real part for real images), two FFTs per plane and no
    /// k-space array.
    fn measured(&self) -> Option<ndarray::ArrayD<bool>> {
        Some(super::broadcast_mask(self.mask(), self.range_shape()))
    }

    fn normal_into(&self, x: ArrayViewD<D>, out: ArrayViewMutD<D>) {
        self.multiply_planes(x, out, &self.raw_mask);
    }

    /// `AᴴA = F⁻¹ diag(d) F` with `d` the [`fourier_diagonal`](Self::fourier_diagonal)
    /// (point-symmetrized for real images) moved to the unshifted layout: the centring
    /// shifts of `F` commute with the circular convolution `AᴴA`.
    fn gram(&self) -> Option<super::Gram> {
        let (h, w) = (self.h, self.w);
        let centred: Vec<f32> = self.diag.iter().copied().collect();
        let mut raw = vec![0.0f32; h * w];
        load_centred_real(&centred, &mut raw, h, w);
        ndarray::Array2::from_shape_vec((h, w), raw)
            .ok()
            .map(super::Gram::Fourier)
    }
}

/// Read a centred k-space sampling mask for `h x w` planes from a file: non-zero (and
/// finite) entries are sampled.
///
/// Accepted files: a `.npy` of float32 or float64 (save a boolean or integer mask with
/// `np.save(path, mask.astype(np.float32))`) or a PNG (8/16-bit gray; RGB images are
/// refused). Accepted shapes: `[h, w]` (or `[1, h, w]`) for a full 2-D mask, and `[h]` or
/// `[h, 1]` for a mask of whole k-space rows (phase encodes along the first axis), which is
/// repeated over the `w` columns. The layout is centred: row `h/2`, column `w/2` is the
/// zero frequency, as in [`MaskKind::generate`] and `sigpy.fft(center=True)`.
///
/// Errors: [`Error::Io`] / [`Error::Format`] when the file cannot be read or decoded,
/// [`Error::NonFinite`] for NaN/inf entries, [`Error::Shape`] for any other shape, and
/// [`Error::Param`] for a mask that samples nothing.
pub fn read_mask(path: &std::path::Path, h: usize, w: usize) -> Result<Array2<bool>> {
    let name = path.display().to_string();
    let arr = match crate::io::read_array(path)? {
        crate::io::AnyArray::Real(a) => a,
        crate::io::AnyArray::Complex(a) => {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "the MRI mask holds complex data of shape {:?}; save a real 0/1 array",
                    a.shape()
                ),
            });
        }
    };
    crate::io::check_finite(&name, arr.view())?;
    let shape = arr.shape().to_vec();
    let rows_only = shape == [h] || (shape == [h, 1] && w != 1);
    let mask = if rows_only {
        let rows: Vec<bool> = arr.iter().map(|&v| v != 0.0).collect();
        Array2::from_shape_fn((h, w), |(u, _)| rows[u])
    } else if shape == [h, w] || shape == [1, h, w] {
        Array2::from_shape_vec((h, w), arr.iter().map(|&v| v != 0.0).collect())
            .map_err(|e| Error::param("mask", e.to_string()))?
    } else {
        return Err(Error::Shape {
            context: format!(
                "MRI mask {name} (must be [H, W] = [{h}, {w}], or [H] / [H, 1] for whole rows)"
            ),
            expected: vec![h, w],
            got: shape,
        });
    };
    if !mask.iter().any(|&b| b) {
        return Err(Error::param(
            "mask",
            format!("the MRI mask {name} samples no k-space point (all entries are zero)"),
        ));
    }
    Ok(mask)
}

/// Build an `mri` operator from its spec for images of `shape`.
pub fn build(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    let args = spec.args(&[
        "accel", "center", "mask", "lines", "power", "complex", "seed",
    ])?;
    let accel = args.f32("accel", 4.0)? as f64;
    let center = args.f32("center", 0.08)? as f64;
    let seed = args.u64("seed", 0)?;
    let complex = args.bool("complex", false)?;
    let mask_arg = args.str_opt("mask").unwrap_or("lines");
    if !matches!(mask_arg, "lines" | "vd2d") {
        if !(mask_arg.ends_with(".npy") || mask_arg.ends_with(".png")) {
            return Err(Error::Spec(format!(
                "`mri`: mask={mask_arg} is neither lines, vd2d, nor a .npy/.png mask file"
            )));
        }
        for k in ["accel", "center", "lines", "power", "seed"] {
            if args.has(k) {
                return Err(Error::Spec(format!(
                    "`mri`: `{k}` does not apply to a mask read from a file (mask={mask_arg})"
                )));
            }
        }
        let (_, h, w) = planes(shape)?;
        let mask = read_mask(std::path::Path::new(mask_arg), h, w)?;
        let label = format!("mask file {mask_arg}");
        return Ok(if complex {
            AnyOperator::Complex(Box::new(ComplexMri::with_label(shape, mask, label)?))
        } else {
            AnyOperator::RealToComplex(Box::new(RealMri::with_label(shape, mask, label)?))
        });
    }
    let kind = match args.choice("mask", &["lines", "vd2d"], "lines")?.as_str() {
        "lines" => {
            if args.has("power") {
                return Err(Error::Spec(
                    "`mri`: `power` applies to mask=vd2d only".into(),
                ));
            }
            let selection = match args
                .choice("lines", &["random", "equispaced"], "random")?
                .as_str()
            {
                "random" => LineSelection::Random,
                _ => LineSelection::Equispaced,
            };
            MaskKind::Lines {
                accel,
                center,
                selection,
            }
        }
        _ => {
            if args.has("lines") {
                return Err(Error::Spec(
                    "`mri`: `lines` applies to mask=lines only".into(),
                ));
            }
            MaskKind::Vd2d {
                accel,
                center,
                power: args.positive_f32("power", 2.0)? as f64,
            }
        }
    };
    if complex {
        Ok(AnyOperator::Complex(Box::new(ComplexMri::from_kind(
            shape, kind, seed,
        )?)))
    } else {
        Ok(AnyOperator::RealToComplex(Box::new(RealMri::from_kind(
            shape, kind, seed,
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{dot, norm2};
    use ndarray::{ArrayD, IxDyn};
    use num_complex::Complex;

    fn random_array<T: Scalar>(shape: &[usize], seed: u64) -> ArrayD<T> {
        let mut rng = crate::rng(seed);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || T::standard_normal(&mut rng))
    }

    fn rel<T: Scalar>(a: &ArrayD<T>, b: &ArrayD<T>) -> f64 {
        norm2((a - b).view()) / norm2(b.view()).max(1e-30)
    }

    /// The centred orthonormal DFT by its definition, in f64.
    fn naive_centred_dft(x: &[c32], h: usize, w: usize, sign: f64) -> Vec<c32> {
        let mut out = vec![c32::new(0.0, 0.0); h * w];
        let (ch, cw) = ((h / 2) as f64, (w / 2) as f64);
        for u in 0..h {
            for v in 0..w {
                let mut acc = Complex::new(0.0f64, 0.0);
                for i in 0..h {
                    for j in 0..w {
                        let ph = sign
                            * 2.0
                            * std::f64::consts::PI
                            * ((u as f64 - ch) * (i as f64 - ch) / h as f64
                                + (v as f64 - cw) * (j as f64 - cw) / w as f64);
                        let xi = x[i * w + j];
                        acc +=
                            Complex::new(xi.re as f64, xi.im as f64) * Complex::from_polar(1.0, ph);
                    }
                }
                acc /= ((h * w) as f64).sqrt();
                out[u * w + v] = c32::new(acc.re as f32, acc.im as f32);
            }
        }
        out
    }

    #[test]
    fn centred_fft_matches_the_shifted_dft() {
        for &(h, w) in &[(5usize, 4usize), (4, 6), (7, 3), (1, 5)] {
            let x: ArrayD<c32> = random_array(&[h, w], (h * w) as u64);
            let xs = x.as_slice().unwrap();
            let fft = Fft2::new(h, w);
            let mut y = vec![c32::new(0.0, 0.0); h * w];
            centered_fft2(&fft, xs, &mut y);
            let want = naive_centred_dft(xs, h, w, -1.0);
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).norm() < 1e-5, "{h}x{w}: {a} vs {b}");
            }
            let mut back = vec![c32::new(0.0, 0.0); h * w];
            centered_ifft2(&fft, &y, &mut back);
            let want = naive_centred_dft(&y, h, w, 1.0);
            for ((a, b), c) in back.iter().zip(&want).zip(xs) {
                assert!((a - b).norm() < 1e-5 && (a - c).norm() < 1e-5);
            }
        }
        // a constant image maps to a single DC coefficient at (h/2, w/2)
        let (h, w) = (6, 5);
        let fft = Fft2::new(h, w);
        let mut y = vec![c32::new(0.0, 0.0); h * w];
        centered_fft2(&fft, &vec![c32::new(1.0, 0.0); h * w], &mut y);
        for (k, v) in y.iter().enumerate() {
            let want = if k == (h / 2) * w + w / 2 {
                ((h * w) as f32).sqrt()
            } else {
                0.0
            };
            assert!((v.re - want).abs() < 1e-5 && v.im.abs() < 1e-5, "{k}: {v}");
        }
    }

    fn sampled_rows(m: &Array2<bool>) -> Vec<usize> {
        (0..m.nrows())
            .filter(|&r| {
                let row = m.row(r);
                assert!(row.iter().all(|&b| b == row[0]), "rows are all-or-nothing");
                row[0]
            })
            .collect()
    }

    #[test]
    fn line_masks_have_the_requested_lines() {
        for &(h, accel, center) in &[
            (64usize, 4.0, 0.08),
            (65, 3.0, 0.1),
            (12, 2.0, 0.2),
            (8, 3.0, 0.08),
            (40, 1.0, 0.5),
        ] {
            for sel in [LineSelection::Random, LineSelection::Equispaced] {
                let kind = MaskKind::Lines {
                    accel,
                    center,
                    selection: sel,
                };
                let m = kind.generate(h, 10, 3).unwrap();
                let rows = sampled_rows(&m);
                let keep = ((h as f64 / accel).round() as usize).max(1);
                assert_eq!(rows.len(), keep, "{h} {accel} {sel:?}");
                let nc = (center * h as f64).round() as usize;
                let start = h / 2 - nc / 2;
                for r in start..start + nc {
                    assert!(rows.contains(&r), "centre row {r} missing");
                }
                assert!(nc == 0 || rows.contains(&(h / 2)));
                if sel == LineSelection::Equispaced && keep > nc {
                    // ranks among non-centre rows are evenly spread
                    let cand: Vec<usize> = (0..h)
                        .filter(|r| !(start..start + nc).contains(r))
                        .collect();
                    let ranks: Vec<usize> = rows
                        .iter()
                        .filter_map(|r| cand.iter().position(|c| c == r))
                        .collect();
                    let gaps: Vec<usize> = ranks.windows(2).map(|p| p[1] - p[0]).collect();
                    if let (Some(lo), Some(hi)) = (gaps.iter().min(), gaps.iter().max()) {
                        assert!(hi - lo <= 1, "uneven gaps {gaps:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn equispaced_spacing_on_a_round_case() {
        // 64 rows, accel 4 -> 16 lines, 4 central (60..) -> 12 over 60 others: every 5th
        let kind = MaskKind::Lines {
            accel: 4.0,
            center: 4.0 / 64.0,
            selection: LineSelection::Equispaced,
        };
        let rows = sampled_rows(&kind.generate(64, 8, 0).unwrap());
        let outside: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|r| !(30..34).contains(r))
            .collect();
        assert_eq!(outside.len(), 12);
        let cand: Vec<usize> = (0..64).filter(|r| !(30..34).contains(r)).collect();
        for (j, r) in outside.iter().enumerate() {
            assert_eq!(*r, cand[5 * j + 2], "{outside:?}");
        }
    }

    #[test]
    fn random_lines_depend_on_the_seed_only() {
        let kind = MaskKind::Lines {
            accel: 4.0,
            center: 0.08,
            selection: LineSelection::Random,
        };
        let a = kind.generate(128, 16, 1).unwrap();
        assert_eq!(a, kind.generate(128, 16, 1).unwrap());
        assert_ne!(a, kind.generate(128, 16, 2).unwrap());
    }

    #[test]
    fn line_mask_rejects_inconsistent_parameters() {
        let bad = |accel, center| {
            MaskKind::Lines {
                accel,
                center,
                selection: LineSelection::Random,
            }
            .generate(20, 20, 0)
        };
        assert!(bad(4.0, 0.5).is_err()); // 10 centre lines, 5 kept
        assert!(bad(0.5, 0.1).is_err());
        assert!(bad(f64::NAN, 0.1).is_err());
        assert!(bad(2.0, 1.5).is_err());
        assert!(bad(2.0, 0.5).is_ok());
    }

    #[test]
    fn vd2d_hits_the_sampling_fraction_and_decays() {
        let (h, w) = (96usize, 80usize);
        for &(accel, power) in &[(4.0, 2.0), (2.5, 3.0), (8.0, 1.0)] {
            let kind = MaskKind::Vd2d {
                accel,
                center: 0.1,
                power,
            };
            let m = kind.generate(h, w, 5).unwrap();
            let frac = m.iter().filter(|&&b| b).count() as f64 / (h * w) as f64;
            assert!(
                (frac - 1.0 / accel).abs() < 0.015,
                "accel {accel}: fraction {frac}"
            );
            // the centre ellipse is fully sampled
            for u in 0..h {
                for v in 0..w {
                    let r = (((u as f64 - 48.0) / 48.0).powi(2)
                        + ((v as f64 - 40.0) / 40.0).powi(2))
                    .sqrt();
                    if r <= 0.1 {
                        assert!(m[[u, v]], "centre point ({u},{v}) not sampled");
                    }
                }
            }
            // density decays with the radius
            let band = |lo: f64, hi: f64| {
                let (mut n, mut s) = (0usize, 0usize);
                for u in 0..h {
                    for v in 0..w {
                        let r = (((u as f64 - 48.0) / 48.0).powi(2)
                            + ((v as f64 - 40.0) / 40.0).powi(2))
                        .sqrt();
                        if r > lo && r <= hi {
                            n += 1;
                            s += m[[u, v]] as usize;
                        }
                    }
                }
                s as f64 / n as f64
            };
            assert!(band(0.1, 0.4) > band(0.4, 0.8));
            assert!(band(0.4, 0.8) > band(0.8, 1.5));
            assert_eq!(m, kind.generate(h, w, 5).unwrap());
            assert_ne!(m, kind.generate(h, w, 6).unwrap());
        }
        // accel = 1 samples everything; an oversized centre is refused
        let full = MaskKind::Vd2d {
            accel: 1.0,
            center: 0.0,
            power: 2.0,
        };
        assert!(full.generate(9, 7, 0).unwrap().iter().all(|&b| b));
        let big = MaskKind::Vd2d {
            accel: 8.0,
            center: 0.9,
            power: 2.0,
        };
        assert!(big.generate(32, 32, 0).is_err());
        // A huge power underflows the density to zero almost everywhere: refused, not
        // turned into full sampling (∞ · 0). A merely large one still hits the fraction.
        let steep = |power| MaskKind::Vd2d {
            accel: 2.0,
            center: 0.0,
            power,
        };
        let e = steep(1000.0).generate(64, 64, 0).unwrap_err();
        assert!(e.to_string().contains("lower power"), "{e}");
        let m = steep(30.0).generate(64, 64, 0).unwrap();
        let frac = m.iter().filter(|&&b| b).count() as f64 / m.len() as f64;
        assert!((frac - 0.5).abs() < 0.03, "fraction {frac}");
    }

    fn adjoint_mismatch<D: Scalar>(op: &Mri<D>, seed: u64) -> f64 {
        let x: ArrayD<D> = random_array(op.domain_shape(), seed);
        let y: ArrayD<c32> = random_array(op.range_shape(), seed + 1);
        let ax = op.apply(x.view());
        let aty = op.adjoint(y.view());
        (dot(ax.view(), y.view()) - dot(x.view(), aty.view())).abs()
            / (norm2(ax.view()) * norm2(y.view()))
    }

    fn vd_kind() -> MaskKind {
        MaskKind::Vd2d {
            accel: 3.0,
            center: 0.1,
            power: 2.0,
        }
    }

    #[test]
    fn apply_is_masked_centred_fft_and_adjoints_are_exact() {
        let shape = [2usize, 9, 6];
        let op = ComplexMri::from_kind(&shape, vd_kind(), 4).unwrap();
        let x: ArrayD<c32> = random_array(&shape, 1);
        let y = op.apply(x.view());
        for p in 0..2 {
            let xs = &x.as_slice().unwrap()[p * 54..(p + 1) * 54];
            let want = naive_centred_dft(xs, 9, 6, -1.0);
            let got = &y.as_slice().unwrap()[p * 54..(p + 1) * 54];
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                let b = if op.mask().as_slice().unwrap()[k] {
                    *b
                } else {
                    c32::new(0.0, 0.0)
                };
                assert!((a - b).norm() < 1e-5);
            }
        }
        assert!(adjoint_mismatch(&op, 7) < 1e-6);
        let real = RealMri::from_kind(&shape, vd_kind(), 4).unwrap();
        assert!(adjoint_mismatch(&real, 8) < 1e-6);
        // the real operator is the complex one restricted to real images
        let xr: ArrayD<f32> = random_array(&shape, 2);
        let xc = xr.mapv(|v| c32::new(v, 0.0));
        assert!(rel(&real.apply(xr.view()), &op.apply(xc.view())) < 1e-6);
        let yr: ArrayD<c32> = random_array(&shape, 3);
        let want = op.adjoint(yr.view()).mapv(|v| v.re);
        assert!(rel(&real.adjoint(yr.view()), &want) < 1e-6);
    }

    #[test]
    fn fully_sampled_zero_filled_reconstruction_is_exact() {
        for shape in [vec![12usize, 10], vec![3, 8, 7]] {
            let kind = MaskKind::Lines {
                accel: 1.0,
                center: 0.08,
                selection: LineSelection::Random,
            };
            let real = RealMri::from_kind(&shape, kind, 0).unwrap();
            assert_eq!(real.sampling_fraction(), 1.0);
            let x: ArrayD<f32> = random_array(&shape, 1);
            let rec = real.adjoint(real.apply(x.view()).view());
            assert!(rel(&rec, &x) < 1e-6);
            let cplx = ComplexMri::from_kind(&shape, kind, 0).unwrap();
            let z: ArrayD<c32> = random_array(&shape, 2);
            let rec = cplx.adjoint(cplx.apply(z.view()).view());
            assert!(rel(&rec, &z) < 1e-6);
            // and the data keeps the energy (F is unitary)
            let nz = norm2(z.view());
            assert!((norm2(cplx.apply(z.view()).view()) - nz).abs() < 1e-5 * nz);
        }
    }

    #[test]
    fn normal_operator_is_fourier_diagonal() {
        let shape = [10usize, 7];
        let kind = MaskKind::Lines {
            accel: 2.0,
            center: 0.2,
            selection: LineSelection::Random,
        };
        // complex: d is the mask
        let op = ComplexMri::from_kind(&shape, vd_kind(), 1).unwrap();
        let x: ArrayD<c32> = random_array(&shape, 3);
        let mut n = ArrayD::from_elem(IxDyn(&shape), c32::new(f32::NAN, 0.0));
        op.normal_into(x.view(), n.view_mut());
        assert!(rel(&n, &op.adjoint(op.apply(x.view()).view())) < 1e-6);
        let mask_f = op.mask().mapv(|b| b as u8 as f32);
        assert_eq!(op.fourier_diagonal(), mask_f);
        // real: d is the symmetrized mask and Re(F^H M F x) = F^H diag(d) F x
        for k in [vd_kind(), kind] {
            let op = RealMri::from_kind(&shape, k, 2).unwrap();
            let x: ArrayD<f32> = random_array(&shape, 4);
            let mut n = ArrayD::from_elem(IxDyn(&shape), f32::NAN);
            op.normal_into(x.view(), n.view_mut());
            assert!(rel(&n, &op.adjoint(op.apply(x.view()).view())) < 1e-6);
            let fft = Fft2::new(10, 7);
            let xc: Vec<c32> = x.iter().map(|&v| c32::new(v, 0.0)).collect();
            let mut f = vec![c32::new(0.0, 0.0); 70];
            centered_fft2(&fft, &xc, &mut f);
            f.iter_mut()
                .zip(op.fourier_diagonal().iter())
                .for_each(|(v, &d)| *v *= d);
            let mut back = vec![c32::new(0.0, 0.0); 70];
            centered_ifft2(&fft, &f, &mut back);
            assert!(back.iter().all(|v| v.im.abs() < 1e-5), "imaginary residue");
            let want =
                ArrayD::from_shape_vec(IxDyn(&shape), back.iter().map(|v| v.re).collect()).unwrap();
            assert!(rel(&n, &want) < 1e-5);
            assert!(
                op.fourier_diagonal()
                    .iter()
                    .all(|&d| d == 0.0 || d == 0.5 || d == 1.0)
            );
        }
        // for a row mask that is not symmetric the symmetrized diagonal has halves
        let m = Array2::from_shape_fn((10, 7), |(u, _)| u == 2);
        let op = RealMri::new(&shape, m).unwrap();
        let d = op.fourier_diagonal();
        assert_eq!(d[[2, 0]], 0.5);
        // row 2 reflects to row 8 (centre 5), column 0 to column (6 - 0) mod 7 = 6
        assert_eq!(d[[8, 6]], 0.5);
        assert_eq!(d[[5, 3]], 0.0);
    }

    #[test]
    fn shifted_normal_solve_inverts() {
        let shape = [2usize, 11, 8];
        let rho = 0.05f32;
        let real = RealMri::from_kind(&shape, vd_kind(), 9).unwrap();
        let x: ArrayD<f32> = random_array(&shape, 5);
        let b = {
            let mut n = real.adjoint(real.apply(x.view()).view());
            n.zip_mut_with(&x, |v, &xi| *v += rho * xi);
            n
        };
        let mut sol = ArrayD::from_elem(IxDyn(&shape), f32::NAN);
        real.solve_normal_shifted(b.view(), rho, sol.view_mut());
        assert!(rel(&sol, &x) < 1e-4, "{}", rel(&sol, &x));
        let cplx = ComplexMri::from_kind(
            &shape,
            MaskKind::Lines {
                accel: 3.0,
                center: 0.1,
                selection: LineSelection::Equispaced,
            },
            0,
        )
        .unwrap();
        let z: ArrayD<c32> = random_array(&shape, 6);
        let mut b = cplx.adjoint(cplx.apply(z.view()).view());
        b.zip_mut_with(&z, |v, &zi| *v += zi * rho);
        let mut sol = ArrayD::from_elem(IxDyn(&shape), c32::new(f32::NAN, 0.0));
        cplx.solve_normal_shifted(b.view(), rho, sol.view_mut());
        assert!(rel(&sol, &z) < 1e-4);
    }

    #[test]
    fn non_contiguous_buffers() {
        let shape = [6usize, 5];
        let op = RealMri::from_kind(&shape, vd_kind(), 0).unwrap();
        let x: ArrayD<f32> = random_array(&[5, 6], 1);
        let xt = x.t();
        let xc = xt.as_standard_layout().into_owned();
        assert_eq!(op.apply(xt.view()), op.apply(xc.view()));
        let y: ArrayD<c32> = random_array(&shape, 2);
        let mut out = ArrayD::from_elem(IxDyn(&[5, 6]), f32::NAN);
        op.adjoint_into(y.view(), out.view_mut().reversed_axes());
        assert_eq!(out.t(), op.adjoint(y.view()));
    }

    #[test]
    fn custom_masks_are_checked() {
        assert!(RealMri::new(&[8, 6], Array2::from_elem((6, 8), true)).is_err());
        assert!(RealMri::new(&[2, 2, 8, 6], Array2::from_elem((8, 6), true)).is_err());
        let op = RealMri::new(&[8, 6], Array2::from_elem((8, 6), true)).unwrap();
        assert!(op.describe().contains("custom mask"));
    }

    #[test]
    fn masks_read_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let (h, w) = (10usize, 6usize);
        // a 2-D point mask (float32 .npy, centred layout) equals the operator's mask
        let m2 = Array2::from_shape_fn((h, w), |(u, v)| (u * 7 + v * 3) % 4 == 0);
        let p2 = dir.path().join("m2.npy");
        let f2 = m2.mapv(|b| b as u8 as f32).into_dyn();
        crate::io::write_npy_real(&p2, &f2.view()).unwrap();
        let spec = format!("mri:mask={},complex=true", p2.display());
        let op = build(&Spec::parse(&spec).unwrap(), &[h, w]).unwrap();
        assert!(matches!(op, AnyOperator::Complex(_)));
        assert!(op.describe().contains("mask file"), "{}", op.describe());
        let direct = ComplexMri::new(&[h, w], m2.clone()).unwrap();
        let x: ArrayD<c32> = random_array(&[h, w], 4);
        let AnyOperator::Complex(a) = &op else {
            unreachable!()
        };
        assert_eq!(a.apply(x.view()), direct.apply(x.view()));
        // sampled k-space points keep F x, the others are exactly zero
        let k = a.apply(x.view());
        let full = naive_centred_dft(x.as_slice().unwrap(), h, w, -1.0);
        for (i, (got, want)) in k.iter().zip(&full).enumerate() {
            if m2.as_slice().unwrap()[i] {
                assert!((got - want).norm() < 1e-5);
            } else {
                assert_eq!(*got, c32::new(0.0, 0.0));
            }
        }
        // a row mask [H] and [H, 1] is repeated over the columns; any non-zero samples
        let rows = [0.0f32, 0.0, 1.0, 0.0, 0.0, 2.5, 0.0, -1.0, 0.0, 0.0];
        let want = Array2::from_shape_fn((h, w), |(u, _)| rows[u] != 0.0);
        for shape in [vec![h], vec![h, 1]] {
            let p = dir.path().join(format!("rows{}.npy", shape.len()));
            let a = ArrayD::from_shape_vec(IxDyn(&shape), rows.to_vec()).unwrap();
            crate::io::write_npy_real(&p, &a.view()).unwrap();
            assert_eq!(read_mask(&p, h, w).unwrap(), want);
            let spec = format!("mri:mask={}", p.display());
            let op = build(&Spec::parse(&spec).unwrap(), &[2, h, w]).unwrap();
            assert!(matches!(op, AnyOperator::RealToComplex(_)));
            assert!(op.describe().contains("30.0%"), "{}", op.describe());
        }
        // a PNG mask (0 / 255) reads the same as the .npy
        let pp = dir.path().join("m2.png");
        crate::io::write_png(&pp, &f2.view(), 8).unwrap();
        assert_eq!(read_mask(&pp, h, w).unwrap(), m2);
        // wrong shapes, missing files, empty masks and mixed keys are refused clearly
        let err = read_mask(&p2, w, h).unwrap_err().to_string();
        assert!(err.contains("MRI mask") && err.contains("[6, 10]"), "{err}");
        assert!(matches!(read_mask(&p2, h, w + 1), Err(Error::Shape { .. })));
        let missing = dir.path().join("nope.npy");
        assert!(matches!(read_mask(&missing, h, w), Err(Error::Io { .. })));
        let pz = dir.path().join("zero.npy");
        let z = ArrayD::<f32>::zeros(IxDyn(&[h, w]));
        crate::io::write_npy_real(&pz, &z.view()).unwrap();
        assert!(matches!(read_mask(&pz, h, w), Err(Error::Param { .. })));
        let pc = dir.path().join("c.npy");
        let c = ArrayD::from_elem(IxDyn(&[h, w]), c32::new(1.0, 0.0));
        crate::io::write_npy_complex(&pc, &c.view()).unwrap();
        assert!(matches!(read_mask(&pc, h, w), Err(Error::Format { .. })));
        let parse = |s: String| build(&Spec::parse(&s).unwrap(), &[h, w]);
        assert!(parse(format!("mri:mask={},accel=2", p2.display())).is_err());
        assert!(parse(format!("mri:mask={},seed=1", p2.display())).is_err());
        assert!(parse("mri:mask=holes.txt".to_string()).is_err());
    }

    #[test]
    fn spec_parsing() {
        let parse = |s: &str| build(&Spec::parse(s).unwrap(), &[16, 12]);
        let op = parse("mri:accel=2,complex=true").unwrap();
        assert!(matches!(op, AnyOperator::Complex(_)));
        assert_eq!(op.range_shape(), &[16, 12]);
        let op = parse("mri:accel=2,center=0.25,seed=3").unwrap();
        assert!(matches!(op, AnyOperator::RealToComplex(_)));
        let d = op.describe();
        assert!(
            d.contains("50.0%") && d.contains("center=0.25 random seed=3"),
            "{d}"
        );
        assert!(parse("mri:mask=vd2d,power=3,accel=2").is_ok());
        assert!(parse("mri:mask=vd2d,lines=random").is_err());
        assert!(parse("mri:power=2").is_err());
        assert!(parse("mri:accel=0.5").is_err());
        assert!(parse("mri:mask=radial").is_err());
        assert!(parse("mri:lines=spiral").is_err());
        assert!(parse("mri:bogus=1").is_err());
        assert!(build(&Spec::parse("mri").unwrap(), &[5]).is_err());
    }
}
