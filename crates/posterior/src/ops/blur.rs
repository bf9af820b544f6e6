//! `blur`: 2-D convolution with a point-spread function, `y = k * x`, per image plane.
//!
//! The convolution is a true convolution with the kernel origin at `(oa, ob)` (default
//! `(kh / 2, kw / 2)`):
//!
//! ```text
//! y[i, j] = Σ_{a, b} k[a, b] x[i - a + oa, j - b + ob]
//! ```
//!
//! where `x` outside the image is defined by the [`Boundary`]:
//! * `circular`: periodic, `x[i mod H, j mod W]` — diagonalized by the 2-D DFT;
//! * `zero`: `0` outside (a "same"-size output of the zero-padded convolution);
//! * `reflect`: half-sample symmetric extension (numpy `symmetric`, MATLAB `symmetric`):
//!   `x[-1] = x[0]`, `x[H] = x[H - 1]`, period `2H`.
//!
//! Every boundary is a linear map, so the adjoint is exact: the correlation with the same
//! kernel followed by the transpose of the extension (reflected contributions are folded
//! back onto the pixels they came from; zero padding is cropped).
//!
//! Circular blur runs through real FFTs with a precomputed transfer function `K̂`
//! ([`Blur::transfer`]). Zero and reflect run either by direct (vectorized) summation or,
//! for large kernels, by FFT on a padded plane large enough that no wrap-around reaches the
//! kept samples; both paths compute the same linear map (tested against each other and
//! against a slow reference).

use std::sync::Arc;

use ndarray::{Array2, ArrayViewD, ArrayViewMutD};
use num_complex::Complex;
use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use super::kernels::{self, Kernel};
use super::{LinearOperator, planes};
use crate::error::{Error, Result};
use crate::scalar::c32;
use crate::spec::Spec;

/// How the image is extended beyond its border.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// Periodic extension (FFT-diagonal).
    Circular,
    /// Zero outside the image.
    Zero,
    /// Half-sample symmetric extension, `x[-1] = x[0]`.
    Reflect,
}

impl Boundary {
    /// The spec word: `circular`, `zero` or `reflect`.
    pub fn name(self) -> &'static str {
        match self {
            Boundary::Circular => "circular",
            Boundary::Zero => "zero",
            Boundary::Reflect => "reflect",
        }
    }

    /// Parse a spec word.
    pub fn parse(word: &str) -> Result<Self> {
        match word {
            "circular" => Ok(Boundary::Circular),
            "zero" => Ok(Boundary::Zero),
            "reflect" => Ok(Boundary::Reflect),
            _ => Err(Error::param(
                "boundary",
                format!("`{word}` is not a boundary; choose circular, zero or reflect"),
            )),
        }
    }
}

/// How zero and reflect boundaries are computed (circular always uses the FFT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Pick the cheaper of direct summation and padded FFT from an operation count.
    Auto,
    /// Direct summation, `kh kw H W` multiply-adds per plane.
    Direct,
    /// FFT on a padded plane of size at least `(H + kh - 1) x (W + kw - 1)`.
    Fft,
}

/// Image planes at least this large run their row and column FFTs in parallel.
const PAR_PLANE: usize = 1 << 15;

/// The smallest `n' >= n` whose prime factors are all in {2, 3, 5, 7} (fast FFT sizes).
pub fn next_fast_len(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5, 7] {
            while r % p == 0 {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

/// 2-D real FFT of row-major `h x w` planes: real-to-complex along rows (`wc = w / 2 + 1`
/// bins), then complex FFTs along columns. The spectrum is kept *transposed*, `[wc][h]`
/// row-major, which saves the transpose back (pointwise products do not care).
#[derive(Clone)]
struct RealFft2 {
    h: usize,
    w: usize,
    wc: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    col_fwd: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
    scratch_len: usize,
}

/// Buffers for one plane transform (allocated per plane and call).
struct Work {
    real: Vec<f32>,
    rows: Vec<c32>,
    spec: Vec<c32>,
}

impl RealFft2 {
    fn new(h: usize, w: usize) -> Self {
        let mut rp = RealFftPlanner::<f32>::new();
        let mut cp = FftPlanner::<f32>::new();
        let r2c = rp.plan_fft_forward(w);
        let c2r = rp.plan_fft_inverse(w);
        let col_fwd = cp.plan_fft_forward(h);
        let col_inv = cp.plan_fft_inverse(h);
        let scratch_len = r2c
            .get_scratch_len()
            .max(c2r.get_scratch_len())
            .max(col_fwd.get_inplace_scratch_len())
            .max(col_inv.get_inplace_scratch_len());
        RealFft2 {
            h,
            w,
            wc: w / 2 + 1,
            r2c,
            c2r,
            col_fwd,
            col_inv,
            scratch_len,
        }
    }

    fn work(&self) -> Work {
        let z = Complex::new(0.0, 0.0);
        Work {
            real: vec![0.0; self.h * self.w],
            rows: vec![z; self.h * self.wc],
            spec: vec![z; self.h * self.wc],
        }
    }

    fn scratch(&self) -> Vec<c32> {
        vec![Complex::new(0.0, 0.0); self.scratch_len]
    }

    fn par(&self) -> bool {
        self.h * self.w >= PAR_PLANE
    }

    /// `work.spec <- DFT2(work.real)` (transposed layout); `work.real` is destroyed.
    fn forward(&self, work: &mut Work) {
        let (w, wc) = (self.w, self.wc);
        let row = |(x, s): (&mut [f32], &mut [c32]), scratch: &mut Vec<c32>| {
            self.r2c
                .process_with_scratch(x, s, scratch)
                .expect("real FFT buffer lengths");
        };
        if self.par() {
            work.real
                .par_chunks_mut(w)
                .zip(work.rows.par_chunks_mut(wc))
                .for_each_init(|| self.scratch(), |sc, p| row(p, sc));
        } else {
            let mut sc = self.scratch();
            for p in work.real.chunks_mut(w).zip(work.rows.chunks_mut(wc)) {
                row(p, &mut sc);
            }
        }
        crate::fft::transpose(&work.rows, &mut work.spec, self.h, wc);
        self.columns(&mut work.spec, &self.col_fwd);
    }

    /// `work.real <- DFT2^{-1}(work.spec)` without the `1 / (h w)`; `work.spec` is destroyed.
    fn inverse(&self, work: &mut Work) {
        let (w, wc) = (self.w, self.wc);
        self.columns(&mut work.spec, &self.col_inv);
        crate::fft::transpose(&work.spec, &mut work.rows, wc, self.h);
        let even = w % 2 == 0;
        let row = |(s, y): (&mut [c32], &mut [f32]), scratch: &mut Vec<c32>| {
            // the spectrum of a real row has real DC (and Nyquist) bins; rounding leaves
            // tiny imaginary parts there, which the exact map discards
            s[0].im = 0.0;
            if even {
                s[wc - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(s, y, scratch)
                .expect("real FFT buffer lengths");
        };
        if self.par() {
            work.rows
                .par_chunks_mut(wc)
                .zip(work.real.par_chunks_mut(w))
                .for_each_init(|| self.scratch(), |sc, p| row(p, sc));
        } else {
            let mut sc = self.scratch();
            for p in work.rows.chunks_mut(wc).zip(work.real.chunks_mut(w)) {
                row(p, &mut sc);
            }
        }
    }

    fn columns(&self, spec: &mut [c32], plan: &Arc<dyn Fft<f32>>) {
        let h = self.h;
        if self.par() {
            spec.par_chunks_mut(h * 8).for_each_init(
                || self.scratch(),
                |sc, chunk| plan.process_with_scratch(chunk, sc),
            );
        } else {
            let mut sc = self.scratch();
            plan.process_with_scratch(spec, &mut sc);
        }
    }
}

/// A kernel's transfer function on an `m x n` plane, kept in the transposed half layout of
/// [`RealFft2`], pre-divided by `m n` so one forward/inverse round trip is exact.
struct Spectral {
    fft: RealFft2,
    /// `K̂ / (m n)`, `[wc][m]`.
    k: Vec<c32>,
    /// `|K̂|^2 / (m n)`, `[wc][m]`.
    k2: Vec<f32>,
}

#[derive(Clone, Copy)]
enum Mult {
    Apply,
    Adjoint,
    Normal,
}

impl Spectral {
    /// Transfer function of `kernel` placed with tap `(a, b)` at
    /// `((a + da) mod m, (b + db) mod n)` on an `m x n` plane.
    fn new(kernel: &Kernel, m: usize, n: usize, shift: (isize, isize)) -> Self {
        let fft = RealFft2::new(m, n);
        let mut work = fft.work();
        let (kh, kw) = kernel.dims();
        let kw_s = kernel
            .weights()
            .as_slice()
            .expect("kernels are standard layout");
        for a in 0..kh {
            let r = (a as isize + shift.0).rem_euclid(m as isize) as usize;
            for b in 0..kw {
                let c = (b as isize + shift.1).rem_euclid(n as isize) as usize;
                work.real[r * n + c] += kw_s[a * kw + b];
            }
        }
        fft.forward(&mut work);
        let s = 1.0 / (m * n) as f32;
        let k: Vec<c32> = work.spec.iter().map(|v| v * s).collect();
        let k2: Vec<f32> = work.spec.iter().map(|v| v.norm_sqr() * s).collect();
        Spectral { fft, k, k2 }
    }

    /// `work.real <- IDFT(mult · DFT(work.real))`.
    fn filter(&self, work: &mut Work, mult: Mult) {
        self.fft.forward(work);
        match mult {
            Mult::Apply => {
                for (s, k) in work.spec.iter_mut().zip(&self.k) {
                    *s *= k;
                }
            }
            Mult::Adjoint => {
                for (s, k) in work.spec.iter_mut().zip(&self.k) {
                    *s *= k.conj();
                }
            }
            Mult::Normal => {
                for (s, k) in work.spec.iter_mut().zip(&self.k2) {
                    *s *= k;
                }
            }
        }
        self.fft.inverse(work);
    }

    /// The full, unnormalized `m x n` transfer function `K̂[u, v]`.
    fn full(&self) -> Array2<c32> {
        let (m, n, wc) = (self.fft.h, self.fft.w, self.fft.wc);
        let scale = (m * n) as f32;
        Array2::from_shape_fn((m, n), |(u, v)| {
            if v < wc {
                self.k[v * m + u] * scale
            } else {
                (self.k[(n - v) * m + (m - u) % m] * scale).conj()
            }
        })
    }
}

enum Engine {
    /// Circular boundary: FFT on the image plane; `full` is the exposed `K̂`.
    Circular {
        spectral: Spectral,
        full: Array2<c32>,
    },
    /// Zero/reflect boundary by FFT on an `m x n` padded plane.
    Padded(Spectral),
    /// Zero/reflect boundary by direct summation.
    Direct,
}

/// Convolution `y = k * x` of each image plane with a fixed kernel (see the module docs for
/// the formula, the origin convention and the boundaries).
///
/// ```
/// use posterior::ops::blur::{Blur, Boundary};
/// use posterior::ops::{kernels, LinearOperator};
/// let k = kernels::gaussian(5, 1.0).unwrap();
/// let op = Blur::new(k, Boundary::Reflect, &[16, 12]).unwrap();
/// // a normalized kernel keeps constant images constant under reflect/circular boundaries
/// let x = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[16, 12]), 2.0f32);
/// let y = op.apply(x.view());
/// assert!(y.iter().all(|v| (v - 2.0).abs() < 1e-5));
/// ```
pub struct Blur {
    kernel: Kernel,
    label: String,
    origin: (usize, usize),
    boundary: Boundary,
    shape: Vec<usize>,
    dims: (usize, usize, usize),
    engine: Engine,
}

impl Blur {
    /// Blur images of `shape` (`[H, W]` or `[C, H, W]`) with `kernel`, origin at
    /// `(kh / 2, kw / 2)`, choosing direct or FFT computation automatically.
    pub fn new(kernel: Kernel, boundary: Boundary, shape: &[usize]) -> Result<Self> {
        let (kh, kw) = kernel.dims();
        Self::with_origin(kernel, (kh / 2, kw / 2), boundary, Method::Auto, shape)
    }

    /// Full control: kernel origin `(oa, ob)` (the tap multiplying `x[i, j]` in `y[i, j]`,
    /// must lie inside the kernel) and computation method. The kernel must fit in the image
    /// plane (`kh <= H`, `kw <= W`).
    pub fn with_origin(
        kernel: Kernel,
        origin: (usize, usize),
        boundary: Boundary,
        method: Method,
        shape: &[usize],
    ) -> Result<Self> {
        let (c, h, w) = planes(shape)?;
        let (kh, kw) = kernel.dims();
        if kh > h || kw > w {
            return Err(Error::param(
                "kernel",
                format!(
                    "the {kh}x{kw} kernel does not fit in the {h}x{w} image plane; use a smaller kernel or a larger image"
                ),
            ));
        }
        if origin.0 >= kh || origin.1 >= kw {
            return Err(Error::param(
                "origin",
                format!("origin {origin:?} lies outside the {kh}x{kw} kernel"),
            ));
        }
        let engine = match boundary {
            Boundary::Circular => {
                let spectral =
                    Spectral::new(&kernel, h, w, (-(origin.0 as isize), -(origin.1 as isize)));
                let full = spectral.full();
                Engine::Circular { spectral, full }
            }
            Boundary::Zero | Boundary::Reflect => {
                let (m, n) = (next_fast_len(h + kh - 1), next_fast_len(w + kw - 1));
                let use_fft = match method {
                    Method::Direct => false,
                    Method::Fft => true,
                    Method::Auto => direct_cost(kh, kw, h, w) > fft_cost(m, n),
                };
                if use_fft {
                    Engine::Padded(Spectral::new(&kernel, m, n, (0, 0)))
                } else {
                    Engine::Direct
                }
            }
        };
        Ok(Blur {
            label: format!("custom {kh}x{kw}"),
            kernel,
            origin,
            boundary,
            shape: shape.to_vec(),
            dims: (c, h, w),
            engine,
        })
    }

    /// Build from a spec `blur:kernel=gaussian|box|motion,size=9,std=1.6,length=9,angle=0,
    /// boundary=circular|zero|reflect,method=auto|direct|fft` (defaults: gaussian, size 9,
    /// std 1.6, length 9, angle 0, circular, auto). `size`/`std` apply to gaussian, `size` to
    /// box, `length`/`angle` to motion, `method` to zero/reflect; a key that does not apply
    /// is an error.
    pub fn from_spec(spec: &Spec, shape: &[usize]) -> Result<Self> {
        let args = spec.args(&[
            "kernel", "size", "std", "length", "angle", "boundary", "method",
        ])?;
        let kind = args.choice("kernel", &["gaussian", "box", "motion"], "gaussian")?;
        let boundary = Boundary::parse(&args.choice(
            "boundary",
            &["circular", "zero", "reflect"],
            "circular",
        )?)?;
        let method = match args
            .choice("method", &["auto", "direct", "fft"], "auto")?
            .as_str()
        {
            "direct" => Method::Direct,
            "fft" => Method::Fft,
            _ => Method::Auto,
        };
        if boundary == Boundary::Circular && method != Method::Auto {
            return Err(Error::Spec(
                "`blur`: `method` applies to boundary=zero and boundary=reflect (circular always uses the FFT)"
                    .into(),
            ));
        }
        let allowed: &[&str] = match kind.as_str() {
            "gaussian" => &["size", "std"],
            "box" => &["size"],
            _ => &["length", "angle"],
        };
        for key in ["size", "std", "length", "angle"] {
            if args.has(key) && !allowed.contains(&key) {
                return Err(Error::Spec(format!(
                    "`blur`: `{key}` does not apply to kernel={kind} (it takes {})",
                    allowed.join(", ")
                )));
            }
        }
        let (kernel, label) = match kind.as_str() {
            "gaussian" => {
                let size = args.usize_in("size", 9, 1, 4097)?;
                let std = args.positive_f32("std", 1.6)?;
                (
                    kernels::gaussian(size, std)?,
                    format!("gaussian {size}x{size} std={std}"),
                )
            }
            "box" => {
                let size = args.usize_in("size", 9, 1, 4097)?;
                (kernels::box_kernel(size)?, format!("box {size}x{size}"))
            }
            _ => {
                let length = args.f32("length", 9.0)?;
                let angle = args.f32("angle", 0.0)?;
                let k = kernels::motion(length, angle)?;
                let (kh, kw) = k.dims();
                (
                    k,
                    format!("motion length={length} angle={angle} ({kh}x{kw})"),
                )
            }
        };
        let (kh, kw) = kernel.dims();
        let mut op = Blur::with_origin(kernel, (kh / 2, kw / 2), boundary, method, shape)?;
        op.label = label;
        Ok(op)
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The kernel origin `(oa, ob)`.
    pub fn origin(&self) -> (usize, usize) {
        self.origin
    }

    /// The boundary condition.
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }

    /// Whether zero/reflect are computed through a padded FFT (`false`: direct summation or
    /// circular boundary).
    pub fn uses_padded_fft(&self) -> bool {
        matches!(self.engine, Engine::Padded(_))
    }

    /// For the circular boundary, the `H x W` transfer function `K̂ = DFT2(k̃)`, where `k̃`
    /// is the kernel wrapped onto the plane with its origin at `(0, 0)`
    /// (`k̃[(a - oa) mod H, (b - ob) mod W] += k[a, b]`) and `DFT2` is unnormalized with
    /// `exp(-2πi (u i / H + v j / W))` (as [`Fft2::forward`](crate::fft::Fft2::forward)).
    /// Then `A x = IDFT2(K̂ ⊙ DFT2(x))`, `A^T y = IDFT2(conj(K̂) ⊙ DFT2(y))` with
    /// `IDFT2 = Fft2::inverse / (H W)`. `None` for the zero and reflect boundaries, which
    /// are not diagonalized by the DFT.
    pub fn transfer(&self) -> Option<&Array2<c32>> {
        match &self.engine {
            Engine::Circular { full, .. } => Some(full),
            _ => None,
        }
    }

    fn geometry(&self) -> Geometry {
        let (_, h, w) = self.dims;
        let (kh, kw) = self.kernel.dims();
        Geometry {
            h,
            w,
            kh,
            kw,
            ph: kh - 1 - self.origin.0,
            pw: kw - 1 - self.origin.1,
            reflect: self.boundary == Boundary::Reflect,
        }
    }

    /// Run `f(x_plane, y_plane)` on every plane, in parallel when there are several.
    fn per_plane<F>(&self, x: ArrayViewD<f32>, mut y: ArrayViewMutD<f32>, f: F)
    where
        F: Fn(&[f32], &mut [f32]) + Sync,
    {
        assert_eq!(x.shape(), &self.shape[..], "blur: input shape");
        assert_eq!(y.shape(), &self.shape[..], "blur: output shape");
        let (c, h, w) = self.dims;
        let n = h * w;
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let run = |ys: &mut [f32]| {
            if c == 1 {
                f(xs, ys);
            } else {
                xs.par_chunks(n)
                    .zip(ys.par_chunks_mut(n))
                    .for_each(|(a, b)| f(a, b));
            }
        };
        match y.as_slice_mut() {
            Some(ys) => run(ys),
            None => {
                let mut tmp = vec![0.0; c * n];
                run(&mut tmp);
                y.iter_mut().zip(&tmp).for_each(|(o, v)| *o = *v);
            }
        }
    }

    fn plane_apply(&self, x: &[f32], y: &mut [f32]) {
        let g = self.geometry();
        let k = self.kernel.weights().as_slice().expect("standard layout");
        match &self.engine {
            Engine::Circular { spectral, .. } => {
                let mut work = spectral.fft.work();
                work.real.copy_from_slice(x);
                spectral.filter(&mut work, Mult::Apply);
                y.copy_from_slice(&work.real);
            }
            Engine::Direct => {
                let mut xp = vec![0.0; g.hp() * g.wp()];
                g.pad(x, &mut xp, g.wp());
                valid_conv(k, &g, &xp, g.wp(), y);
            }
            Engine::Padded(spectral) => {
                let n = spectral.fft.w;
                let mut work = spectral.fft.work();
                g.pad(x, &mut work.real, n);
                spectral.filter(&mut work, Mult::Apply);
                for (i, yrow) in y.chunks_mut(g.w).enumerate() {
                    let s = (i + g.kh - 1) * n + g.kw - 1;
                    yrow.copy_from_slice(&work.real[s..s + g.w]);
                }
            }
        }
    }

    fn plane_adjoint(&self, y: &[f32], x: &mut [f32]) {
        let g = self.geometry();
        let k = self.kernel.weights().as_slice().expect("standard layout");
        match &self.engine {
            Engine::Circular { spectral, .. } => {
                let mut work = spectral.fft.work();
                work.real.copy_from_slice(y);
                spectral.filter(&mut work, Mult::Adjoint);
                x.copy_from_slice(&work.real);
            }
            Engine::Direct => {
                let mut zp = vec![0.0; g.hp() * g.wp()];
                full_corr(k, &g, y, &mut zp, g.wp());
                g.fold(&zp, g.wp(), x);
            }
            Engine::Padded(spectral) => {
                let n = spectral.fft.w;
                let mut work = spectral.fft.work();
                for (i, yrow) in y.chunks(g.w).enumerate() {
                    let s = (i + g.kh - 1) * n + g.kw - 1;
                    work.real[s..s + g.w].copy_from_slice(yrow);
                }
                spectral.filter(&mut work, Mult::Adjoint);
                g.fold(&work.real, n, x);
            }
        }
    }
}

/// Multiply-adds of direct summation on one plane.
fn direct_cost(kh: usize, kw: usize, h: usize, w: usize) -> f64 {
    (kh * kw * h * w) as f64
}

/// Multiply-add equivalent of a forward + inverse real FFT pair on an `m x n` plane, plus
/// padding and the pointwise product. Roughly calibrated on 256² and 512² planes (x86-64,
/// single thread, on a loaded machine, so only to within a kernel size or two): the two
/// paths cost about the same near 9x9 to 11x11 kernels; with this constant direct
/// summation is chosen up to kernel areas of about 100.
fn fft_cost(m: usize, n: usize) -> f64 {
    let mn = (m * n) as f64;
    6.0 * mn * mn.log2().max(1.0)
}

/// Padding geometry of a zero/reflect plane: the padded plane has `hp = h + kh - 1` rows
/// and `wp = w + kw - 1` columns, with `ph` rows above and `pw` columns left of the image.
struct Geometry {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
    reflect: bool,
}

/// Half-sample symmetric index: `n` reflected into `[0, len)` with period `2 len`.
#[inline]
fn reflect_index(n: isize, len: usize) -> usize {
    let p = 2 * len as isize;
    let m = n.rem_euclid(p) as usize;
    if m < len { m } else { 2 * len - 1 - m }
}

impl Geometry {
    fn hp(&self) -> usize {
        self.h + self.kh - 1
    }

    fn wp(&self) -> usize {
        self.w + self.kw - 1
    }

    /// Source row/column of padded position `p` (`None`: zero padding).
    #[inline]
    fn src(&self, p: usize, pad: usize, len: usize) -> Option<usize> {
        let n = p as isize - pad as isize;
        if self.reflect {
            Some(reflect_index(n, len))
        } else if n >= 0 && (n as usize) < len {
            Some(n as usize)
        } else {
            None
        }
    }

    /// Write the extended plane into rows `0..hp`, columns `0..wp` of `out` (row stride
    /// `stride`); other entries of `out` are set to zero.
    fn pad(&self, x: &[f32], out: &mut [f32], stride: usize) {
        let (w, wp, pw) = (self.w, self.wp(), self.pw);
        for (p, orow) in out.chunks_mut(stride).enumerate() {
            orow.fill(0.0);
            if p >= self.hp() {
                continue;
            }
            let Some(r) = self.src(p, self.ph, self.h) else {
                continue;
            };
            let xrow = &x[r * w..(r + 1) * w];
            orow[pw..pw + w].copy_from_slice(xrow);
            if self.reflect {
                for q in (0..pw).chain(pw + w..wp) {
                    orow[q] = xrow[reflect_index(q as isize - pw as isize, w)];
                }
            }
        }
    }

    /// The transpose of [`pad`](Self::pad): sum every padded entry (rows `0..hp`, columns
    /// `0..wp` of `z`, row stride `stride`) back onto the pixel it was copied from.
    fn fold(&self, z: &[f32], stride: usize, x: &mut [f32]) {
        let (w, wp, pw) = (self.w, self.wp(), self.pw);
        x.fill(0.0);
        for p in 0..self.hp() {
            let Some(r) = self.src(p, self.ph, self.h) else {
                continue;
            };
            let zrow = &z[p * stride..p * stride + wp];
            let xrow = &mut x[r * w..(r + 1) * w];
            for (xv, zv) in xrow.iter_mut().zip(&zrow[pw..pw + w]) {
                *xv += zv;
            }
            if self.reflect {
                for q in (0..pw).chain(pw + w..wp) {
                    xrow[reflect_index(q as isize - pw as isize, w)] += zrow[q];
                }
            }
        }
    }
}

/// Rows of work above which direct summation runs rows in parallel.
const PAR_DIRECT: usize = 1 << 18;

/// "Valid" convolution of the padded plane `xp` (row stride `stride`):
/// `y[i, j] = Σ k[a, b] xp[i + kh - 1 - a, j + kw - 1 - b]`.
fn valid_conv(k: &[f32], g: &Geometry, xp: &[f32], stride: usize, y: &mut [f32]) {
    let (w, kh, kw) = (g.w, g.kh, g.kw);
    let row = |(i, yrow): (usize, &mut [f32])| {
        yrow.fill(0.0);
        for a in 0..kh {
            let xrow = &xp[(i + kh - 1 - a) * stride..];
            for (b, &kab) in k[a * kw..(a + 1) * kw].iter().enumerate() {
                let src = &xrow[kw - 1 - b..kw - 1 - b + w];
                for (yv, xv) in yrow.iter_mut().zip(src) {
                    *yv += kab * xv;
                }
            }
        }
    };
    if kh * kw * g.h * w >= PAR_DIRECT {
        y.par_chunks_mut(w).enumerate().for_each(row);
    } else {
        y.chunks_mut(w).enumerate().for_each(row);
    }
}

/// The transpose of [`valid_conv`]: the "full" correlation
/// `z[p, q] = Σ k[a, b] y[p - kh + 1 + a, q - kw + 1 + b]` (terms with `y` outside
/// dropped) on the `hp x wp` padded plane (row stride `stride`).
///
/// Written as a gather over `y` rows padded with `kw - 1` zeros on each side, so every
/// pass updates `z` at the same offsets (a scatter at shifted offsets stalls on
/// store-to-load forwarding and measured 3-4x slower).
fn full_corr(k: &[f32], g: &Geometry, y: &[f32], z: &mut [f32], stride: usize) {
    let (h, w, kh, kw) = (g.h, g.w, g.kh, g.kw);
    let (wp, yw) = (g.wp(), w + 2 * (kw - 1));
    let mut ypad = vec![0.0f32; h * yw];
    for (dst, src) in ypad.chunks_mut(yw).zip(y.chunks(w)) {
        dst[kw - 1..kw - 1 + w].copy_from_slice(src);
    }
    let row = |(p, zrow): (usize, &mut [f32])| {
        zrow.fill(0.0);
        let zrow = &mut zrow[..wp];
        for a in 0..kh {
            let Some(i) = (p + a).checked_sub(kh - 1) else {
                continue;
            };
            if i >= h {
                continue;
            }
            let yrow = &ypad[i * yw..(i + 1) * yw];
            for (b, &kab) in k[a * kw..(a + 1) * kw].iter().enumerate() {
                for (zv, yv) in zrow.iter_mut().zip(&yrow[b..b + wp]) {
                    *zv += kab * yv;
                }
            }
        }
    };
    let z = &mut z[..g.hp() * stride];
    if kh * kw * h * w >= PAR_DIRECT {
        z.par_chunks_mut(stride).enumerate().for_each(row);
    } else {
        z.chunks_mut(stride).enumerate().for_each(row);
    }
}

impl LinearOperator for Blur {
    type Domain = f32;
    type Range = f32;

    fn describe(&self) -> String {
        format!("blur({}, {})", self.label, self.boundary.name())
    }

    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }

    fn range_shape(&self) -> &[usize] {
        &self.shape
    }

    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        self.per_plane(x, y, |a, b| self.plane_apply(a, b));
    }

    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        self.per_plane(y, x, |a, b| self.plane_adjoint(a, b));
    }

    fn normal_into(&self, x: ArrayViewD<f32>, out: ArrayViewMutD<f32>) {
        match &self.engine {
            Engine::Circular { spectral, .. } => self.per_plane(x, out, |a, b| {
                let mut work = spectral.fft.work();
                work.real.copy_from_slice(a);
                spectral.filter(&mut work, Mult::Normal);
                b.copy_from_slice(&work.real);
            }),
            _ => {
                let y = self.apply(x);
                self.adjoint_into(y.view(), out);
            }
        }
    }

    fn gram(&self) -> Option<super::Gram> {
        self.transfer()
            .map(|k| super::Gram::Fourier(k.mapv(|v| v.norm_sqr())))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fft::Fft2;
    use crate::linalg::{dot, norm2};
    use crate::scalar::Scalar;
    use ndarray::{ArrayD, IxDyn};

    // (the testkit crate links a second copy of this crate, so unit tests carry their own)
    pub(crate) fn random_array(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut rng = crate::rng(seed);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || f32::standard_normal(&mut rng))
    }

    /// Dot-product test `|<A x, y> - <x, A^T y>| <= tol ||A x|| ||y||`.
    pub(crate) fn check_adjoint<O: LinearOperator<Domain = f32, Range = f32>>(
        op: &O,
        seed: u64,
        tol: f64,
    ) {
        let x = random_array(op.domain_shape(), seed);
        let y = random_array(op.range_shape(), seed + 1);
        let ax = op.apply(x.view());
        let aty = op.adjoint(y.view());
        let (l, r) = (dot(ax.view(), y.view()), dot(x.view(), aty.view()));
        let scale = (norm2(ax.view()) * norm2(y.view())).max(norm2(x.view()) * norm2(aty.view()));
        assert!(
            (l - r).abs() <= tol * scale,
            "{}: {l} vs {r}",
            op.describe()
        );
    }

    /// `A^T` column by column equals the transpose of `A` column by column.
    fn check_dense<O: LinearOperator<Domain = f32, Range = f32>>(op: &O, tol: f32) {
        let n: usize = op.domain_shape().iter().product();
        let m: usize = op.range_shape().iter().product();
        let unit = |shape: &[usize], k: usize| {
            let mut e = ArrayD::zeros(IxDyn(shape));
            e.as_slice_mut().unwrap()[k] = 1.0f32;
            e
        };
        let a: Vec<ArrayD<f32>> = (0..n)
            .map(|k| op.apply(unit(op.domain_shape(), k).view()))
            .collect();
        for j in 0..m {
            let at = op.adjoint(unit(op.range_shape(), j).view());
            for (k, col) in a.iter().enumerate() {
                let (u, v) = (col.as_slice().unwrap()[j], at.as_slice().unwrap()[k]);
                assert!(
                    (u - v).abs() <= tol,
                    "A[{j},{k}] = {u} but A^T[{k},{j}] = {v}"
                );
            }
        }
    }

    /// The obviously-correct reference: the defining sum, with the boundary as an index map.
    fn reference(
        x: &ArrayD<f32>,
        k: &Array2<f32>,
        origin: (usize, usize),
        boundary: Boundary,
    ) -> ArrayD<f32> {
        let sh = x.shape().to_vec();
        let (c, h, w) = planes(&sh).unwrap();
        let xs = x.as_slice().unwrap();
        let (kh, kw) = k.dim();
        let idx = |n: isize, len: usize| -> Option<usize> {
            match boundary {
                Boundary::Circular => Some(n.rem_euclid(len as isize) as usize),
                Boundary::Reflect => Some(reflect_index(n, len)),
                Boundary::Zero => (n >= 0 && (n as usize) < len).then_some(n as usize),
            }
        };
        let mut y = vec![0.0f32; c * h * w];
        for p in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let mut acc = 0.0f64;
                    for a in 0..kh {
                        for b in 0..kw {
                            let r = idx(i as isize - a as isize + origin.0 as isize, h);
                            let s = idx(j as isize - b as isize + origin.1 as isize, w);
                            if let (Some(r), Some(s)) = (r, s) {
                                acc += k[[a, b]] as f64 * xs[p * h * w + r * w + s] as f64;
                            }
                        }
                    }
                    y[p * h * w + i * w + j] = acc as f32;
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(&sh), y).unwrap()
    }

    fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
        a.iter()
            .zip(b.iter())
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f32::max)
    }

    fn random_kernel(kh: usize, kw: usize, seed: u64) -> Kernel {
        let a = random_array(&[kh, kw], seed);
        Kernel::new(a.into_dimensionality().unwrap()).unwrap()
    }

    const BOUNDARIES: [Boundary; 3] = [Boundary::Circular, Boundary::Zero, Boundary::Reflect];

    #[test]
    fn matches_reference_all_boundaries_and_methods() {
        let shapes: [&[usize]; 3] = [&[13, 10], &[2, 9, 16], &[7, 7]];
        let ksizes = [(3, 3), (4, 2), (5, 6), (1, 7), (7, 7)];
        for (si, shape) in shapes.iter().enumerate() {
            for (ki, &(kh, kw)) in ksizes.iter().enumerate() {
                let k = random_kernel(kh, kw, (10 * si + ki) as u64);
                let x: ArrayD<f32> = random_array(shape, 99 + si as u64);
                for origin in [(kh / 2, kw / 2), (0, kw - 1)] {
                    for boundary in BOUNDARIES {
                        for method in [Method::Direct, Method::Fft] {
                            let op = Blur::with_origin(k.clone(), origin, boundary, method, shape)
                                .unwrap();
                            let y = op.apply(x.view());
                            let r = reference(&x, k.weights(), origin, boundary);
                            let d = max_abs_diff(&y, &r);
                            assert!(
                                d < 2e-5 * (kh * kw) as f32,
                                "{shape:?} k {kh}x{kw} origin {origin:?} {boundary:?} {method:?}: {d}"
                            );
                            check_adjoint(&op, 5, 1e-5);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn padded_fft_equals_direct_for_large_kernels() {
        let shape = [2, 40, 33];
        let k = random_kernel(21, 17, 3);
        let x: ArrayD<f32> = random_array(&shape, 4);
        let y: ArrayD<f32> = random_array(&shape, 5);
        for boundary in [Boundary::Zero, Boundary::Reflect] {
            let o = (5, 7);
            let d = Blur::with_origin(k.clone(), o, boundary, Method::Direct, &shape).unwrap();
            let f = Blur::with_origin(k.clone(), o, boundary, Method::Fft, &shape).unwrap();
            let a = Blur::with_origin(k.clone(), o, boundary, Method::Auto, &shape).unwrap();
            assert!(!d.uses_padded_fft() && f.uses_padded_fft() && a.uses_padded_fft());
            let scale = d.apply(x.view()).iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(max_abs_diff(&d.apply(x.view()), &f.apply(x.view())) < 1e-5 * scale);
            let scale = d
                .adjoint(y.view())
                .iter()
                .fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(max_abs_diff(&d.adjoint(y.view()), &f.adjoint(y.view())) < 1e-5 * scale);
        }
        // a small kernel stays direct under Auto
        let small = Blur::new(kernels::gaussian(3, 1.0).unwrap(), Boundary::Zero, &shape);
        assert!(!small.unwrap().uses_padded_fft());
    }

    #[test]
    fn dense_adjoint_small() {
        for boundary in BOUNDARIES {
            for method in [Method::Direct, Method::Fft] {
                let op =
                    Blur::with_origin(random_kernel(3, 4, 1), (2, 1), boundary, method, &[6, 5])
                        .unwrap();
                check_dense(&op, 1e-5);
            }
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        let shape = [3, 17, 12];
        let x = ArrayD::from_elem(IxDyn(&shape), 0.7f32);
        for k in [
            kernels::gaussian(9, 1.6).unwrap(),
            kernels::gaussian(4, 1.0).unwrap(),
            kernels::motion(7.0, 30.0).unwrap(),
            kernels::box_kernel(12).unwrap(),
        ] {
            for boundary in [Boundary::Circular, Boundary::Reflect] {
                let op = Blur::new(k.clone(), boundary, &shape).unwrap();
                let y = op.apply(x.view());
                assert!(
                    y.iter().all(|v| (v - 0.7).abs() < 1e-5),
                    "{}",
                    op.describe()
                );
            }
            // zero padding darkens the border but not the interior
            let op = Blur::new(k.clone(), Boundary::Zero, &shape).unwrap();
            let y = op.apply(x.view());
            assert!(y[[0, 0, 0]] < 0.7 - 1e-3);
        }
    }

    #[test]
    fn transfer_function_and_normal() {
        let shape = [2, 9, 12];
        let k = random_kernel(5, 4, 8);
        let op = Blur::new(k, Boundary::Circular, &shape).unwrap();
        let t = op.transfer().unwrap();
        assert_eq!(t.dim(), (9, 12));
        let x: ArrayD<f32> = random_array(&shape, 9);
        let y = op.apply(x.view());
        let fft = Fft2::new(9, 12);
        for p in 0..2 {
            let mut buf: Vec<c32> = x
                .index_axis(ndarray::Axis(0), p)
                .iter()
                .map(|&v| Complex::new(v, 0.0))
                .collect();
            fft.forward(&mut buf);
            buf.iter_mut().zip(t.iter()).for_each(|(b, k)| *b *= k);
            fft.inverse(&mut buf);
            for (v, r) in buf.iter().zip(y.index_axis(ndarray::Axis(0), p).iter()) {
                assert!((v.re / 108.0 - r).abs() < 1e-5);
            }
        }
        let mut n = ArrayD::zeros(IxDyn(&shape));
        op.normal_into(x.view(), n.view_mut());
        let r = op.adjoint(y.view());
        let scale = r.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max_abs_diff(&n, &r) < 1e-5 * scale);
        assert!(
            Blur::new(kernels::gaussian(3, 1.0).unwrap(), Boundary::Zero, &shape)
                .unwrap()
                .transfer()
                .is_none()
        );
    }

    #[test]
    fn strided_views_and_spec() {
        let op =
            Blur::from_spec(&Spec::parse("blur:boundary=reflect").unwrap(), &[12, 10]).unwrap();
        assert_eq!(op.kernel().dims(), (9, 9));
        assert!((op.kernel().sum() - 1.0).abs() < 1e-6);
        assert_eq!(op.describe(), "blur(gaussian 9x9 std=1.6, reflect)");
        let x: ArrayD<f32> = random_array(&[10, 12], 1);
        let xt = x.t();
        let mut y = ArrayD::zeros(IxDyn(&[10, 12]));
        op.apply_into(xt.view(), y.view_mut().reversed_axes());
        let want = op.apply(xt.as_standard_layout().view());
        assert!(max_abs_diff(&y.t().to_owned(), &want) == 0.0);
        // errors
        let bad = |s: &str, shape: &[usize]| Blur::from_spec(&Spec::parse(s).unwrap(), shape);
        assert!(bad("blur:size=9", &[8, 20]).is_err());
        assert!(bad("blur:kernel=box,std=2", &[20, 20]).is_err());
        assert!(bad("blur:kernel=motion,size=3", &[20, 20]).is_err());
        assert!(bad("blur:boundary=wrap", &[20, 20]).is_err());
        assert!(bad("blur:method=fft", &[20, 20]).is_err());
        assert!(
            bad("blur:boundary=zero,size=3,method=fft", &[20, 20])
                .unwrap()
                .uses_padded_fft()
        );
        assert!(bad("blur", &[4, 20, 20, 3]).is_err());
        assert_eq!(next_fast_len(11), 12);
        assert_eq!(next_fast_len(97), 98);
        assert_eq!(next_fast_len(121), 125);
    }
}
