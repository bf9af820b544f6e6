//! The orthonormal discrete cosine transform (DCT-II) and its inverse (DCT-III).
//!
//! For a real signal `x` of length `n` the orthonormal DCT-II is
//!
//! ```text
//! X_k = a_k Σ_{j=0}^{n-1} x_j cos(π k (2j + 1) / (2n)),   a_0 = sqrt(1/n), a_k = sqrt(2/n) (k ≥ 1),
//! ```
//!
//! an orthogonal matrix `C` (`C^T C = I`), so its inverse is its transpose, the
//! orthonormal DCT-III `x_j = Σ_k a_k X_k cos(π k (2j + 1) / (2n))`. This is the scaling of
//! `scipy.fft.dct(x, type=2, norm="ortho")`.
//!
//! Both directions cost one `n`-point complex FFT, using Makhoul's reordering
//! (J. Makhoul, "A fast cosine transform in one and two dimensions", IEEE Trans. ASSP 28(1),
//! 1980): with `v = (x_0, x_2, x_4, ..., x_5, x_3, x_1)` (even samples ascending, then odd
//! samples descending) and `V = FFT(v)`, the unnormalized DCT-II is
//! `Y_k = Re(exp(-iπk/(2n)) V_k)`. Conversely `V_k = exp(iπk/(2n)) (Y_k - i Y_{n-k})`
//! (`Y_n = 0`) recovers `V`, hence `v` and `x`. Any `n ≥ 1` works (rustfft handles every
//! length in `O(n log n)`).

use std::sync::Arc;

use num_complex::Complex;
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};

use crate::fft::transpose;
use crate::scalar::c32;

/// A planned orthonormal 1-D DCT-II / DCT-III of length `n` (see the module docs for the
/// formulas). Immutable, `Send + Sync` and reusable: plan once, transform many signals.
#[derive(Clone)]
pub struct Dct1 {
    n: usize,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
    /// `a_k exp(-iπk/(2n))`: the forward post-twiddle with the orthonormal scaling folded in.
    post: Vec<c32>,
    /// `exp(iπk/(2n)) / (n a_k)`: the inverse pre-twiddle with the scalings folded in.
    pre: Vec<c32>,
    fft_scratch: usize,
}

impl std::fmt::Debug for Dct1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dct1").field("n", &self.n).finish()
    }
}

impl Dct1 {
    /// Plan the transforms for signals of length `n`.
    ///
    /// # Panics
    /// If `n == 0`.
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "Dct1: the length must be positive");
        let mut planner = FftPlanner::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let nf = n as f64;
        let scale = |k: usize| {
            if k == 0 {
                (1.0 / nf).sqrt()
            } else {
                (2.0 / nf).sqrt()
            }
        };
        let mut post = Vec::with_capacity(n);
        let mut pre = Vec::with_capacity(n);
        for k in 0..n {
            let phase = std::f64::consts::PI * k as f64 / (2.0 * nf);
            let (s, c) = phase.sin_cos();
            let a = scale(k);
            post.push(Complex::new((a * c) as f32, (-a * s) as f32));
            let b = 1.0 / (nf * a);
            pre.push(Complex::new((b * c) as f32, (b * s) as f32));
        }
        let fft_scratch = fwd
            .get_inplace_scratch_len()
            .max(inv.get_inplace_scratch_len());
        Dct1 {
            n,
            fwd,
            inv,
            post,
            pre,
            fft_scratch,
        }
    }

    /// The signal length `n`.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false (a DCT has positive length); present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Length of the complex scratch buffer the `*_with_scratch` methods need.
    pub fn scratch_len(&self) -> usize {
        self.n + self.fft_scratch
    }

    /// In-place orthonormal DCT-II of `x`, allocating its scratch.
    ///
    /// # Panics
    /// If `x.len() != n`.
    pub fn forward(&self, x: &mut [f32]) {
        let mut scratch = vec![c32::new(0.0, 0.0); self.scratch_len()];
        self.forward_with_scratch(x, &mut scratch);
    }

    /// In-place orthonormal DCT-III (the inverse and transpose of [`forward`](Self::forward)),
    /// allocating its scratch.
    ///
    /// # Panics
    /// If `x.len() != n`.
    pub fn inverse(&self, x: &mut [f32]) {
        let mut scratch = vec![c32::new(0.0, 0.0); self.scratch_len()];
        self.inverse_with_scratch(x, &mut scratch);
    }

    /// In-place orthonormal DCT-II with caller-provided scratch of at least
    /// [`scratch_len`](Self::scratch_len) elements (its contents are ignored).
    ///
    /// # Panics
    /// If `x.len() != n` or the scratch is too short.
    pub fn forward_with_scratch(&self, x: &mut [f32], scratch: &mut [c32]) {
        let n = self.n;
        assert_eq!(x.len(), n, "Dct1::forward: signal length");
        assert!(
            scratch.len() >= self.scratch_len(),
            "Dct1: scratch too short"
        );
        let (v, fs) = scratch.split_at_mut(n);
        let fs = &mut fs[..self.fft_scratch];
        // Makhoul reordering: even samples ascending, odd samples descending.
        for (k, &xe) in x.iter().step_by(2).enumerate() {
            v[k] = Complex::new(xe, 0.0);
        }
        for (k, &xo) in x.iter().skip(1).step_by(2).enumerate() {
            v[n - 1 - k] = Complex::new(xo, 0.0);
        }
        self.fwd.process_with_scratch(v, fs);
        for ((out, vk), tw) in x.iter_mut().zip(v.iter()).zip(&self.post) {
            // Re(tw * vk)
            *out = tw.re * vk.re - tw.im * vk.im;
        }
    }

    /// In-place orthonormal DCT-III (inverse DCT-II) with caller-provided scratch of at
    /// least [`scratch_len`](Self::scratch_len) elements.
    ///
    /// # Panics
    /// If `x.len() != n` or the scratch is too short.
    pub fn inverse_with_scratch(&self, x: &mut [f32], scratch: &mut [c32]) {
        let n = self.n;
        assert_eq!(x.len(), n, "Dct1::inverse: signal length");
        assert!(
            scratch.len() >= self.scratch_len(),
            "Dct1: scratch too short"
        );
        let (v, fs) = scratch.split_at_mut(n);
        let fs = &mut fs[..self.fft_scratch];
        // V_k = exp(iπk/(2n)) (Y_k - i Y_{n-k}) with Y_k = X_k / a_k; the 1/n of the
        // unnormalized inverse FFT is folded into `pre` as well.
        v[0] = Complex::new(x[0] * self.pre[0].re, 0.0);
        for k in 1..n {
            let z = Complex::new(x[k], -x[n - k]);
            v[k] = self.pre[k] * z;
        }
        self.inv.process_with_scratch(v, fs);
        for (k, xe) in x.iter_mut().step_by(2).enumerate() {
            *xe = v[k].re;
        }
        for (k, xo) in x.iter_mut().skip(1).step_by(2).enumerate() {
            *xo = v[n - 1 - k].re;
        }
    }
}

/// A planned separable orthonormal 2-D DCT for row-major `h x w` planes: the 1-D
/// [`Dct1`] along every row, then along every column. Orthogonal, so
/// [`inverse`](Self::inverse) is both its inverse and its transpose. Rows (and columns)
/// are transformed in parallel with rayon.
#[derive(Clone, Debug)]
pub struct Dct2 {
    h: usize,
    w: usize,
    rows: Dct1,
    cols: Dct1,
}

impl Dct2 {
    /// Plan transforms for `h x w` planes.
    ///
    /// # Panics
    /// If `h == 0` or `w == 0`.
    pub fn new(h: usize, w: usize) -> Self {
        Dct2 {
            h,
            w,
            rows: Dct1::new(w),
            cols: Dct1::new(h),
        }
    }

    /// Plane height.
    pub fn height(&self) -> usize {
        self.h
    }

    /// Plane width.
    pub fn width(&self) -> usize {
        self.w
    }

    /// In-place orthonormal 2-D DCT-II of a row-major `h x w` plane.
    ///
    /// # Panics
    /// If `plane.len() != h * w`.
    pub fn forward(&self, plane: &mut [f32]) {
        self.run(plane, true);
    }

    /// In-place orthonormal 2-D DCT-III (inverse and transpose of [`forward`](Self::forward)).
    ///
    /// # Panics
    /// If `plane.len() != h * w`.
    pub fn inverse(&self, plane: &mut [f32]) {
        self.run(plane, false);
    }

    fn run(&self, plane: &mut [f32], forward: bool) {
        let (h, w) = (self.h, self.w);
        assert_eq!(plane.len(), h * w, "Dct2: buffer is not h*w");
        each_line(&self.rows, plane, forward);
        let mut t = vec![0.0f32; h * w];
        transpose(plane, &mut t, h, w);
        each_line(&self.cols, &mut t, forward);
        transpose(&t, plane, w, h);
    }
}

/// Apply `dct` to every consecutive `dct.len()`-long line of `data`, in parallel.
fn each_line(dct: &Dct1, data: &mut [f32], forward: bool) {
    let n = dct.len();
    // about 4096 samples per task keeps rayon's overhead negligible on small planes
    let min_lines = (4096 / n).max(1);
    data.par_chunks_mut(n)
        .with_min_len(min_lines)
        .for_each_init(
            || vec![c32::new(0.0, 0.0); dct.scratch_len()],
            |scratch, line| {
                if forward {
                    dct.forward_with_scratch(line, scratch)
                } else {
                    dct.inverse_with_scratch(line, scratch)
                }
            },
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng(seed);
        (0..n)
            .map(|_| <f32 as crate::Scalar>::standard_normal(&mut rng))
            .collect()
    }

    fn a(k: usize, n: usize) -> f64 {
        if k == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        }
    }

    fn cosine(k: usize, j: usize, n: usize) -> f64 {
        (std::f64::consts::PI * k as f64 * (2 * j + 1) as f64 / (2.0 * n as f64)).cos()
    }

    /// Orthonormal DCT-II by the O(n^2) definition, in f64.
    fn naive_dct2(x: &[f32]) -> Vec<f64> {
        let n = x.len();
        (0..n)
            .map(|k| a(k, n) * (0..n).map(|j| x[j] as f64 * cosine(k, j, n)).sum::<f64>())
            .collect()
    }

    /// Orthonormal DCT-III by the O(n^2) definition, in f64.
    fn naive_dct3(c: &[f32]) -> Vec<f64> {
        let n = c.len();
        (0..n)
            .map(|j| {
                (0..n)
                    .map(|k| a(k, n) * c[k] as f64 * cosine(k, j, n))
                    .sum::<f64>()
            })
            .collect()
    }

    fn rel_err(got: &[f32], want: &[f64]) -> f64 {
        let num: f64 = got
            .iter()
            .zip(want)
            .map(|(&g, &w)| (g as f64 - w).powi(2))
            .sum();
        let den: f64 = want.iter().map(|w| w * w).sum();
        (num / den.max(1e-300)).sqrt()
    }

    const LENGTHS: &[usize] = &[1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 97, 100, 128];

    #[test]
    fn forward_matches_the_definition() {
        for (s, &n) in LENGTHS.iter().enumerate() {
            let x = signal(n, s as u64);
            let mut y = x.clone();
            Dct1::new(n).forward(&mut y);
            let e = rel_err(&y, &naive_dct2(&x));
            assert!(e < 2e-6, "n={n}: relative error {e:.2e}");
        }
    }

    #[test]
    fn inverse_matches_the_dct3_definition() {
        for (s, &n) in LENGTHS.iter().enumerate() {
            let c = signal(n, 100 + s as u64);
            let mut y = c.clone();
            Dct1::new(n).inverse(&mut y);
            let e = rel_err(&y, &naive_dct3(&c));
            assert!(e < 2e-6, "n={n}: relative error {e:.2e}");
        }
    }

    #[test]
    fn orthonormal_round_trip_and_norms() {
        for &n in &[1usize, 6, 9, 250, 1000, 1021, 4096] {
            let dct = Dct1::new(n);
            let x = signal(n, n as u64);
            let mut y = x.clone();
            dct.forward(&mut y);
            let nx: f64 = x.iter().map(|&v| (v as f64).powi(2)).sum();
            let ny: f64 = y.iter().map(|&v| (v as f64).powi(2)).sum();
            assert!((nx - ny).abs() <= 1e-5 * nx, "n={n}: {nx} vs {ny}");
            dct.inverse(&mut y);
            let back: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let e = rel_err(&y, &back);
            assert!(e < 2e-6, "n={n}: round trip error {e:.2e}");
        }
    }

    #[test]
    fn constant_goes_to_the_dc_coefficient() {
        let n = 10;
        let mut x = vec![2.0f32; n];
        Dct1::new(n).forward(&mut x);
        assert!((x[0] - 2.0 * (n as f32).sqrt()).abs() < 1e-5, "{}", x[0]);
        assert!(x[1..].iter().all(|v| v.abs() < 1e-5), "{x:?}");
    }

    #[test]
    fn scratch_contents_do_not_matter() {
        let n = 12;
        let dct = Dct1::new(n);
        let x = signal(n, 5);
        let mut clean = x.clone();
        dct.forward(&mut clean);
        let mut dirty = x.clone();
        let mut scratch = vec![c32::new(f32::NAN, f32::NAN); dct.scratch_len()];
        dct.forward_with_scratch(&mut dirty, &mut scratch);
        assert_eq!(clean, dirty);
        dct.inverse_with_scratch(&mut dirty, &mut scratch);
        let back: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        assert!(rel_err(&dirty, &back) < 2e-6);
    }

    #[test]
    fn two_d_is_separable_and_orthonormal() {
        for &(h, w) in &[(5usize, 7usize), (8, 8), (1, 6), (33, 20)] {
            let x = signal(h * w, (h * w) as u64);
            // reference: naive DCT along rows then columns, in f64
            let mut r = vec![0.0f64; h * w];
            for u in 0..h {
                for v in 0..w {
                    let mut acc = 0.0;
                    for i in 0..h {
                        for j in 0..w {
                            acc += x[i * w + j] as f64 * cosine(u, i, h) * cosine(v, j, w);
                        }
                    }
                    r[u * w + v] = a(u, h) * a(v, w) * acc;
                }
            }
            let d = Dct2::new(h, w);
            let mut y = x.clone();
            d.forward(&mut y);
            let e = rel_err(&y, &r);
            assert!(e < 3e-6, "{h}x{w}: relative error {e:.2e}");
            d.inverse(&mut y);
            let back: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let e = rel_err(&y, &back);
            assert!(e < 3e-6, "{h}x{w}: round trip error {e:.2e}");
        }
    }

    #[test]
    fn two_d_basis_image_has_one_coefficient() {
        let (h, w, ku, kv) = (6usize, 9usize, 2usize, 5usize);
        let mut img = vec![0.0f32; h * w];
        for i in 0..h {
            for j in 0..w {
                img[i * w + j] = (a(ku, h) * a(kv, w) * cosine(ku, i, h) * cosine(kv, j, w)) as f32;
            }
        }
        Dct2::new(h, w).forward(&mut img);
        for (idx, &c) in img.iter().enumerate() {
            let want = if idx == ku * w + kv { 1.0 } else { 0.0 };
            assert!((c - want).abs() < 1e-5, "coefficient {idx}: {c}");
        }
    }

    #[test]
    fn plans_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Dct1>();
        assert_send_sync::<Dct2>();
    }
}
