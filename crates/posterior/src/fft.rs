//! 2-D complex FFTs on row-major planes (rows, transpose, rows), with centring shifts.

use std::sync::Arc;

use num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::scalar::c32;

/// A planned 2-D FFT for `h x w` planes. Unnormalized: `inverse(forward(x)) = h w x`.
#[derive(Clone)]
pub struct Fft2 {
    h: usize,
    w: usize,
    row_fwd: Arc<dyn Fft<f32>>,
    row_inv: Arc<dyn Fft<f32>>,
    col_fwd: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
}

impl Fft2 {
    /// Plan transforms for `h x w` planes.
    pub fn new(h: usize, w: usize) -> Self {
        let mut p = FftPlanner::new();
        Fft2 {
            h,
            w,
            row_fwd: p.plan_fft_forward(w),
            row_inv: p.plan_fft_inverse(w),
            col_fwd: p.plan_fft_forward(h),
            col_inv: p.plan_fft_inverse(h),
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

    fn run(&self, data: &mut [c32], rows: &Arc<dyn Fft<f32>>, cols: &Arc<dyn Fft<f32>>) {
        let (h, w) = (self.h, self.w);
        assert_eq!(data.len(), h * w, "Fft2: buffer is not h*w");
        let mut scratch = vec![
            Complex::new(0.0, 0.0);
            rows.get_inplace_scratch_len()
                .max(cols.get_inplace_scratch_len())
        ];
        rows.process_with_scratch(data, &mut scratch);
        let mut t = vec![Complex::new(0.0f32, 0.0); h * w];
        transpose(data, &mut t, h, w);
        cols.process_with_scratch(&mut t, &mut scratch);
        transpose(&t, data, w, h);
    }

    /// In-place forward transform of one row-major `h x w` plane (no normalization).
    pub fn forward(&self, data: &mut [c32]) {
        self.run(data, &self.row_fwd, &self.col_fwd);
    }

    /// In-place inverse transform (no normalization).
    pub fn inverse(&self, data: &mut [c32]) {
        self.run(data, &self.row_inv, &self.col_inv);
    }

    /// Orthonormal forward transform: `forward` scaled by `1/sqrt(h w)`.
    pub fn forward_ortho(&self, data: &mut [c32]) {
        self.forward(data);
        let s = 1.0 / ((self.h * self.w) as f32).sqrt();
        data.iter_mut().for_each(|v| *v *= s);
    }

    /// Orthonormal inverse transform.
    pub fn inverse_ortho(&self, data: &mut [c32]) {
        self.inverse(data);
        let s = 1.0 / ((self.h * self.w) as f32).sqrt();
        data.iter_mut().for_each(|v| *v *= s);
    }
}

/// Blocked out-of-place transpose of an `h x w` row-major matrix into `w x h`.
pub fn transpose<T: Copy>(src: &[T], dst: &mut [T], h: usize, w: usize) {
    const B: usize = 32;
    for i0 in (0..h).step_by(B) {
        for j0 in (0..w).step_by(B) {
            for i in i0..(i0 + B).min(h) {
                for j in j0..(j0 + B).min(w) {
                    dst[j * h + i] = src[i * w + j];
                }
            }
        }
    }
}

/// Circularly shift a row-major `h x w` plane by (`dy`, `dx`): `out[(i+dy)%h][(j+dx)%w] = in[i][j]`.
pub fn roll2<T: Copy>(src: &[T], dst: &mut [T], h: usize, w: usize, dy: usize, dx: usize) {
    for i in 0..h {
        let oi = (i + dy) % h;
        for j in 0..w {
            dst[oi * w + (j + dx) % w] = src[i * w + j];
        }
    }
}

/// `fftshift`: move the zero frequency to the centre (`floor(n/2)`).
pub fn fftshift<T: Copy>(src: &[T], dst: &mut [T], h: usize, w: usize) {
    roll2(src, dst, h, w, h / 2, w / 2);
}

/// `ifftshift`: the inverse of [`fftshift`].
pub fn ifftshift<T: Copy>(src: &[T], dst: &mut [T], h: usize, w: usize) {
    roll2(src, dst, h, w, h - h / 2, w - w / 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dft(x: &[c32], h: usize, w: usize) -> Vec<c32> {
        let mut out = vec![Complex::new(0.0, 0.0); h * w];
        for u in 0..h {
            for v in 0..w {
                let mut acc = Complex::new(0.0f64, 0.0);
                for i in 0..h {
                    for j in 0..w {
                        let ph = -2.0
                            * std::f64::consts::PI
                            * ((u * i) as f64 / h as f64 + (v * j) as f64 / w as f64);
                        let xi = x[i * w + j];
                        acc +=
                            Complex::new(xi.re as f64, xi.im as f64) * Complex::from_polar(1.0, ph);
                    }
                }
                out[u * w + v] = Complex::new(acc.re as f32, acc.im as f32);
            }
        }
        out
    }

    #[test]
    fn matches_naive_dft_and_inverts() {
        let (h, w) = (6, 5);
        let x: Vec<c32> = (0..h * w)
            .map(|k| Complex::new((k as f32 * 0.37).sin(), (k as f32 * 0.11).cos()))
            .collect();
        let f = Fft2::new(h, w);
        let mut y = x.clone();
        f.forward(&mut y);
        let r = naive_dft(&x, h, w);
        for (a, b) in y.iter().zip(&r) {
            assert!((a - b).norm() < 1e-4, "{a} vs {b}");
        }
        let mut y = x.clone();
        f.forward_ortho(&mut y);
        f.inverse_ortho(&mut y);
        for (a, b) in y.iter().zip(&x) {
            assert!((a - b).norm() < 1e-5);
        }
    }

    #[test]
    fn shifts_invert() {
        let (h, w) = (5, 4);
        let x: Vec<usize> = (0..h * w).collect();
        let mut a = vec![0; h * w];
        let mut b = vec![0; h * w];
        fftshift(&x, &mut a, h, w);
        assert_eq!(a[(h / 2) * w + w / 2], 0);
        ifftshift(&a, &mut b, h, w);
        assert_eq!(b, x);
    }
}
