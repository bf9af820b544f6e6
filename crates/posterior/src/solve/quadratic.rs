//! Regularized normal equations `(AᴴA + ρ KᴴK) x = b`: the x-update of ADMM, the proximal
//! operator of a least-squares fidelity and the closed form of Tikhonov regularization.
//!
//! When both Gram operators are diagonal in a common basis ([`Gram`]: a multiple of the
//! identity, a pixel-wise diagonal, or a DFT multiplier — circular blur, MRI, denoising,
//! inpainting, periodic finite differences, orthonormal transforms) the system is solved
//! exactly in `O(n log n)`; otherwise by warm-started conjugate gradients.

use ndarray::{Array2, ArrayD, ArrayViewD, ArrayViewMutD, Zip};

use super::cg::cg_solve_into;
use crate::error::{Error, Result};
use crate::fft::Fft2;
use crate::ops::{Gram, LinearOperator, planes};
use crate::scalar::{Scalar, c32};

/// How [`ShiftedNormal`] solves its systems.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SolveMode {
    /// Exactly, by a diagonal in pixel or Fourier space.
    Exact,
    /// By conjugate gradients (at most `max_iters`, relative residual `tol`), warm-started
    /// from the previous solution.
    Cg {
        /// Iteration limit per solve.
        max_iters: usize,
        /// Relative residual tolerance.
        tol: f64,
    },
}

enum Diag {
    /// `x = b / (a + ρ c)` with scalars.
    Scalar(f32, f32),
    /// `x = b / (d + ρ e)` pixel-wise (`d`, `e` domain-shaped).
    Pixel(ArrayD<f32>, ArrayD<f32>),
    /// `x = F⁻¹(F b / (s + ρ l))` per plane.
    Fourier(Array2<f32>, Array2<f32>, Fft2),
}

/// The solver of `(AᴴA + ρ KᴴK) x = b` for fixed `A`, `K` and any `ρ > 0`.
///
/// Exact when `A.gram()` and `K.gram()` combine into one diagonal (see [`Gram`]); a
/// pseudo-inverse where the diagonal vanishes (frequencies neither measured nor
/// regularized are set to zero). Otherwise conjugate gradients on `AᴴA + ρKᴴK`, warm-started
/// from the last solution (`max_iters`, `tol` from [`ShiftedNormal::with_cg`]).
pub struct ShiftedNormal<'a, O: LinearOperator + ?Sized> {
    a: &'a O,
    k: Option<RegOp<'a, O::Domain>>,
    diag: Option<Diag>,
    shape: Vec<usize>,
    max_iters: usize,
    tol: f64,
    last: Option<ArrayD<O::Domain>>,
    cg_iters: usize,
}

/// A regularization operator `K` on the domain of `A`.
pub type RegOp<'a, T> = &'a dyn LinearOperator<Domain = T, Range = T>;

fn exact_diag(ga: Option<Gram>, gk: Gram, shape: &[usize]) -> Result<Option<Diag>> {
    let ga = match ga {
        Some(g) => g,
        None => return Ok(None),
    };
    let (_, h, w) = planes(shape)?;
    let pixel = |g: Gram| -> Option<ArrayD<f32>> {
        match g {
            Gram::Scalar(c) => Some(ArrayD::from_elem(ndarray::IxDyn(shape), c)),
            Gram::Pixel(d) if d.shape() == shape => Some(d),
            _ => None,
        }
    };
    let fourier = |g: Gram| -> Option<Array2<f32>> {
        match g {
            Gram::Scalar(c) => Some(Array2::from_elem((h, w), c)),
            Gram::Fourier(s) if s.shape() == [h, w] => Some(s),
            _ => None,
        }
    };
    Ok(match (ga, gk) {
        (Gram::Scalar(a), Gram::Scalar(c)) => Some(Diag::Scalar(a, c)),
        (a @ Gram::Pixel(_), c) | (a, c @ Gram::Pixel(_)) => match (pixel(a), pixel(c)) {
            (Some(d), Some(e)) => Some(Diag::Pixel(d, e)),
            _ => None,
        },
        (a, c) => match (fourier(a), fourier(c)) {
            (Some(s), Some(l)) => Some(Diag::Fourier(s, l, Fft2::new(h, w))),
            _ => None,
        },
    })
}

#[inline]
fn safe_inv(den: f32) -> f32 {
    if den > 1e-12 { 1.0 / den } else { 0.0 }
}

impl<'a, O: LinearOperator + ?Sized> ShiftedNormal<'a, O> {
    /// The solver for `A` (used through `AᴴA` only; wrap it in a
    /// [`Counted`](crate::ops::counted::Counted) to count applications) and `K` (`None`: the
    /// identity).
    pub fn new(a: &'a O, k: Option<RegOp<'a, O::Domain>>) -> Result<Self> {
        let shape = a.domain_shape().to_vec();
        if let Some(k) = k {
            crate::ops::check_shape(&shape, k.domain_shape(), "regularizer K vs operator A")?;
        }
        let gk = match k {
            None => Some(Gram::Scalar(1.0)),
            Some(k) => k.gram(),
        };
        let diag = match gk {
            Some(gk) if planes(&shape).is_ok() => exact_diag(a.gram(), gk, &shape)?,
            _ => None,
        };
        Ok(ShiftedNormal {
            a,
            k,
            diag,
            shape,
            max_iters: 50,
            tol: 1e-6,
            last: None,
            cg_iters: 0,
        })
    }

    /// Iteration limit and relative tolerance of the conjugate-gradient fallback
    /// (defaults 50 and `1e-6`).
    pub fn with_cg(mut self, max_iters: usize, tol: f64) -> Self {
        self.max_iters = max_iters.max(1);
        self.tol = tol;
        self
    }

    /// Exact or iterative.
    pub fn mode(&self) -> SolveMode {
        if self.diag.is_some() {
            SolveMode::Exact
        } else {
            SolveMode::Cg {
                max_iters: self.max_iters,
                tol: self.tol,
            }
        }
    }

    /// Total conjugate-gradient iterations so far (0 in exact mode).
    pub fn cg_iterations(&self) -> usize {
        self.cg_iters
    }

    /// `out <- (AᴴA + ρ KᴴK)⁻¹ b`, `ρ > 0`.
    pub fn solve_into(
        &mut self,
        b: ArrayViewD<O::Domain>,
        rho: f32,
        mut out: ArrayViewMutD<O::Domain>,
    ) -> Result<()> {
        if !(rho.is_finite() && rho > 0.0) {
            return Err(Error::param(
                "rho",
                format!("must be finite and > 0, got {rho}"),
            ));
        }
        crate::ops::check_shape(&self.shape, b.shape(), "normal-equation right-hand side")?;
        match &self.diag {
            Some(Diag::Scalar(a, c)) => {
                let inv = safe_inv(a + rho * c);
                Zip::from(&mut out).and(&b).for_each(|o, &v| *o = v * inv);
            }
            Some(Diag::Pixel(d, e)) => {
                Zip::from(&mut out)
                    .and(&b)
                    .and(d)
                    .and(e)
                    .for_each(|o, &v, &d, &e| *o = v * safe_inv(d + rho * e));
            }
            Some(Diag::Fourier(s, l, fft)) => {
                let (c, h, w) = planes(&self.shape)?;
                let n = h * w;
                let den: Vec<f32> = s
                    .iter()
                    .zip(l.iter())
                    .map(|(&s, &l)| safe_inv(s + rho * l) / n as f32)
                    .collect();
                let b = b.as_standard_layout();
                let bs = b.as_slice().expect("standard layout");
                let mut buf = vec![c32::new(0.0, 0.0); n];
                let mut res = vec![O::Domain::zero(); c * n];
                for ch in 0..c {
                    for (z, &v) in buf.iter_mut().zip(&bs[ch * n..(ch + 1) * n]) {
                        *z = c32::new(v.re(), v.im());
                    }
                    fft.forward(&mut buf);
                    buf.iter_mut().zip(&den).for_each(|(z, &d)| *z *= d);
                    fft.inverse(&mut buf);
                    for (r, z) in res[ch * n..(ch + 1) * n].iter_mut().zip(&buf) {
                        *r = O::Domain::from_parts(z.re, z.im);
                    }
                }
                let res = ArrayViewD::from_shape(ndarray::IxDyn(&self.shape), &res).expect("shape");
                out.assign(&res);
            }
            None => {
                let (a, k) = (self.a, self.k);
                let tmp = std::cell::RefCell::new(ArrayD::from_elem(
                    ndarray::IxDyn(&self.shape),
                    O::Domain::zero(),
                ));
                let apply = |x: ArrayViewD<O::Domain>, mut o: ArrayViewMutD<O::Domain>| {
                    a.normal_into(x.view(), o.view_mut());
                    let mut t = tmp.borrow_mut();
                    match k {
                        Some(k) => k.normal_into(x.view(), t.view_mut()),
                        None => t.assign(&x),
                    }
                    Zip::from(&mut o).and(&*t).for_each(|o, &v| *o += v * rho);
                };
                let warm = self.last.is_some();
                let x = self.last.get_or_insert_with(|| {
                    ArrayD::from_elem(ndarray::IxDyn(&self.shape), O::Domain::zero())
                });
                self.cg_iters += cg_solve_into(&apply, b, x, self.max_iters, self.tol, warm);
                out.assign(x);
            }
        }
        Ok(())
    }
}

/// `out <- AᴴA x` from a [`Gram`] (for tests and diagnostics).
pub fn apply_gram<T: Scalar>(
    gram: &Gram,
    x: ArrayViewD<T>,
    mut out: ArrayViewMutD<T>,
) -> Result<()> {
    match gram {
        Gram::Scalar(c) => Zip::from(&mut out).and(&x).for_each(|o, &v| *o = v * *c),
        Gram::Pixel(d) => {
            crate::ops::check_shape(x.shape(), d.shape(), "pixel Gram")?;
            Zip::from(&mut out)
                .and(&x)
                .and(d)
                .for_each(|o, &v, &d| *o = v * d)
        }
        Gram::Fourier(s) => {
            let (c, h, w) = planes(x.shape())?;
            crate::ops::check_shape(&[h, w], s.shape(), "Fourier Gram")?;
            let fft = Fft2::new(h, w);
            let n = h * w;
            let x = x.as_standard_layout();
            let xs = x.as_slice().expect("standard layout");
            let mut res = vec![T::zero(); c * n];
            let mut buf = vec![c32::new(0.0, 0.0); n];
            for ch in 0..c {
                for (z, &v) in buf.iter_mut().zip(&xs[ch * n..(ch + 1) * n]) {
                    *z = c32::new(v.re(), v.im());
                }
                fft.forward(&mut buf);
                buf.iter_mut()
                    .zip(s.iter())
                    .for_each(|(z, &m)| *z *= m / n as f32);
                fft.inverse(&mut buf);
                for (r, z) in res[ch * n..(ch + 1) * n].iter_mut().zip(&buf) {
                    *r = T::from_parts(z.re, z.im);
                }
            }
            out.assign(&ArrayViewD::from_shape(ndarray::IxDyn(x.shape()), &res).expect("shape"));
        }
    }
    Ok(())
}
