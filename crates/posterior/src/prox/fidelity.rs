//! Data fidelities `f(x)` built from a forward operator `A` and data `y`: the least-squares
//! term of Gaussian noise and the Poisson negative log-likelihood (Kullback–Leibler
//! divergence).

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn, Zip};

use super::{Functional, Gradient, Prox};
use crate::error::{Error, Result};
use crate::linalg::{axpy, dot, norm2, norm2_sq};
use crate::ops::{Identity, LinearOperator, norm_estimate};
use crate::scalar::Scalar;

/// `f(x) = ½ ||A x − y||²`, with `∇f(x) = Aᴴ (A x − y)` (Lipschitz `||A||²`).
///
/// The prox `prox_{τf}(v)` solves `(I + τ AᴴA) u = v + τ Aᴴ y` by conjugate gradients
/// started at `v` (at most `cg_iters` iterations, stopping when the residual is below
/// `cg_tol` relative to the right-hand side). Solvers with an operator diagonal in Fourier
/// should solve this system exactly instead.
pub struct LeastSquares<O: LinearOperator> {
    op: O,
    y: ArrayD<O::Range>,
    lipschitz: f64,
    /// Maximum CG iterations of the prox (default 50).
    pub cg_iters: usize,
    /// Relative residual at which the prox's CG stops (default `1e-6`).
    pub cg_tol: f64,
}

impl<O: LinearOperator> LeastSquares<O> {
    /// Least squares with data `y`; the Lipschitz constant `||A||²` is estimated once by
    /// 100 power iterations ([`norm_estimate`]) and enlarged by 1 % to cover the
    /// estimate's shortfall (power iteration approaches `||A||` from below).
    pub fn new(op: O, y: ArrayD<O::Range>) -> Result<Self> {
        let n = norm_estimate(&op, 100, 0);
        Self::with_lipschitz(op, y, 1.01 * n * n)
    }

    /// Least squares with a known Lipschitz constant `lipschitz ≥ ||A||²`.
    pub fn with_lipschitz(op: O, y: ArrayD<O::Range>, lipschitz: f64) -> Result<Self> {
        op.check_range(y.shape(), "least squares data y")?;
        if !(lipschitz.is_finite() && lipschitz >= 0.0) {
            return Err(Error::param(
                "lipschitz",
                format!("must be finite and >= 0, got {lipschitz}"),
            ));
        }
        Ok(LeastSquares {
            op,
            y,
            lipschitz,
            cg_iters: 50,
            cg_tol: 1e-6,
        })
    }

    /// The operator `A`.
    pub fn op(&self) -> &O {
        &self.op
    }

    /// The data `y`.
    pub fn data(&self) -> &ArrayD<O::Range> {
        &self.y
    }

    fn residual(&self, x: ArrayViewD<O::Domain>) -> ArrayD<O::Range> {
        let mut r = self.op.apply(x);
        r -= &self.y;
        r
    }
}

impl<O: LinearOperator> Functional<O::Domain> for LeastSquares<O> {
    fn value(&self, x: ArrayViewD<O::Domain>) -> f64 {
        0.5 * norm2_sq(self.residual(x).view())
    }
}

impl<O: LinearOperator> Gradient<O::Domain> for LeastSquares<O> {
    fn gradient_into(&self, x: ArrayViewD<O::Domain>, out: ArrayViewMutD<O::Domain>) {
        let r = self.residual(x);
        self.op.adjoint_into(r.view(), out);
    }
    fn lipschitz(&self) -> Option<f64> {
        Some(self.lipschitz)
    }
}

impl<O: LinearOperator> Prox<O::Domain> for LeastSquares<O> {
    fn prox_into(&self, v: ArrayViewD<O::Domain>, tau: f32, mut out: ArrayViewMutD<O::Domain>) {
        let shape = IxDyn(self.op.domain_shape());
        // b = v + τ Aᴴ y
        let mut b = self.op.adjoint(self.y.view());
        Zip::from(&mut b)
            .and(&v)
            .for_each(|b, &v| *b = v + *b * tau);
        let bn = norm2(b.view());
        let mut u = v.to_owned();
        let mut m = ArrayD::from_elem(shape.clone(), O::Domain::zero());
        // r = b − (u + τ AᴴA u)
        self.op.normal_into(u.view(), m.view_mut());
        let mut r = b.clone();
        Zip::from(&mut r)
            .and(&u)
            .and(&m)
            .for_each(|r, &u, &m| *r -= u + m * tau);
        let mut p = r.clone();
        let mut rr = norm2_sq(r.view());
        let stop = (self.cg_tol * bn).powi(2);
        for _ in 0..self.cg_iters {
            if rr <= stop || rr == 0.0 {
                break;
            }
            // m = (I + τ AᴴA) p
            self.op.normal_into(p.view(), m.view_mut());
            Zip::from(&mut m)
                .and(&p)
                .for_each(|m, &p| *m = p + *m * tau);
            let pm = dot(p.view(), m.view());
            if pm <= 0.0 {
                break;
            }
            let alpha = (rr / pm) as f32;
            axpy(alpha, p.view(), u.view_mut());
            axpy(-alpha, m.view(), r.view_mut());
            let rr_new = norm2_sq(r.view());
            let beta = (rr_new / rr) as f32;
            Zip::from(&mut p)
                .and(&r)
                .for_each(|p, &r| *p = r + *p * beta);
            rr = rr_new;
        }
        out.assign(&u);
    }
}

/// The Poisson negative log-likelihood of counts `y ≥ 0` given the mean `A x`, as the
/// Kullback–Leibler divergence
/// `f(x) = Σ_i [(A x)_i − y_i + y_i log(y_i / (A x)_i)]` (with `0 log 0 = 0`), which differs
/// from `Σ (A x − y log A x)` by a constant and vanishes at `A x = y`. It is `+∞` where
/// `(A x)_i < 0`, or `(A x)_i = 0 < y_i`.
///
/// `∇f(x) = Aᵀ (1 − y / (A x))`, defined for `A x > 0` (entries with `(A x)_i = 0 < y_i`
/// give non-finite values); it is not globally Lipschitz (`lipschitz()` is `None`).
/// For `A = I` the prox is closed form (see the [`Prox`] impl for
/// `PoissonLikelihood<Identity<f32>>`).
pub struct PoissonLikelihood<O: LinearOperator<Domain = f32, Range = f32>> {
    op: O,
    y: ArrayD<f32>,
}

impl<O: LinearOperator<Domain = f32, Range = f32>> PoissonLikelihood<O> {
    /// Poisson likelihood of counts `y` (finite, `≥ 0`) under the mean `A x`.
    pub fn new(op: O, y: ArrayD<f32>) -> Result<Self> {
        op.check_range(y.shape(), "Poisson data y")?;
        if !y.iter().all(|&a| a.is_finite() && a >= 0.0) {
            return Err(Error::param(
                "y",
                "Poisson counts must be finite and nonnegative",
            ));
        }
        Ok(PoissonLikelihood { op, y })
    }

    /// The operator `A`.
    pub fn op(&self) -> &O {
        &self.op
    }

    /// The counts `y`.
    pub fn data(&self) -> &ArrayD<f32> {
        &self.y
    }
}

impl<O: LinearOperator<Domain = f32, Range = f32>> Functional<f32> for PoissonLikelihood<O> {
    fn value(&self, x: ArrayViewD<f32>) -> f64 {
        let ax = self.op.apply(x);
        let mut total = 0.0f64;
        for (&m, &y) in ax.iter().zip(self.y.iter()) {
            let (m, y) = (m as f64, y as f64);
            if m < 0.0 || (m == 0.0 && y > 0.0) || m.is_nan() {
                return f64::INFINITY;
            }
            total += m - y;
            if y > 0.0 {
                total += y * (y / m).ln();
            }
        }
        total
    }
}

impl<O: LinearOperator<Domain = f32, Range = f32>> Gradient<f32> for PoissonLikelihood<O> {
    fn gradient_into(&self, x: ArrayViewD<f32>, out: ArrayViewMutD<f32>) {
        let mut ax = self.op.apply(x);
        Zip::from(&mut ax).and(&self.y).for_each(|m, &y| {
            *m = if y == 0.0 { 1.0 } else { 1.0 - y / *m };
        });
        self.op.adjoint_into(ax.view(), out);
    }
    fn lipschitz(&self) -> Option<f64> {
        None
    }
}

/// The closed-form prox of the Poisson likelihood for `A = I`: `u` solves
/// `τ (1 − y/u) + u − v = 0`, i.e. `u = ½ [(v − τ) + sqrt((v − τ)² + 4 τ y)]` (entry-wise,
/// the positive root; `u = max(v − τ, 0)` where `y = 0`).
impl Prox<f32> for PoissonLikelihood<Identity<f32>> {
    fn prox_into(&self, v: ArrayViewD<f32>, tau: f32, mut out: ArrayViewMutD<f32>) {
        Zip::from(&mut out)
            .and(&v)
            .and(&self.y)
            .for_each(|o, &v, &y| {
                let (v, y, t) = (v as f64, y as f64, tau as f64);
                let a = v - t;
                let disc = (a * a + 4.0 * t * y).sqrt();
                // stable positive root: for a < 0 use 2τy / (disc − a)
                let u = if a >= 0.0 {
                    0.5 * (a + disc)
                } else if disc - a > 0.0 {
                    2.0 * t * y / (disc - a)
                } else {
                    0.0
                };
                *o = u as f32;
            });
    }
}
