//! Functionals, proximal operators and gradients: the building blocks of MAP estimation
//! `argmin_x f(x) + λ g(x)`.
//!
//! One trait per mathematical capability, so the compiler says what a solver needs:
//! [`Functional`] (a value), [`Prox`] (a proximal operator), [`Gradient`] (a gradient with
//! its Lipschitz constant). A Plug-and-Play prior is a [`Prox`] built from a denoiser and has
//! no value, by design.
//!
//! Building blocks: [`norms`] (`ℓ1`, `½||·||²`, `||·||₂`, the `ℓ2,1` group norm),
//! [`indicators`] (box, nonnegativity), [`tv`] (total variation with an FGP prox) and
//! [`fidelity`] (least squares, Poisson likelihood).

pub mod fidelity;
pub mod indicators;
pub mod norms;
pub mod separable;
pub mod tv;
mod util;

pub use fidelity::{LeastSquares, PoissonLikelihood};
pub use indicators::{BoxConstraint, NonNegative};
pub use norms::{L1, L2Norm, L21, SquaredDistance, SquaredL2};
pub use separable::Separable2;
pub use tv::TotalVariation;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};

use crate::scalar::Scalar;

/// A function `g: X -> R ∪ {+∞}` that can be evaluated.
pub trait Functional<T: Scalar>: Send + Sync {
    /// `g(x)` in f64 (`f64::INFINITY` outside the domain of an indicator).
    fn value(&self, x: ArrayViewD<T>) -> f64;
}

/// The proximal operator of a proper closed convex function `g`:
/// `prox_{τ g}(v) = argmin_u τ g(u) + ½ ||u − v||²`.
pub trait Prox<T: Scalar>: Send + Sync {
    /// `out <- prox_{τ g}(v)`; `out` is overwritten, never read. `tau > 0`.
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, out: ArrayViewMutD<T>);

    /// `prox_{τ g}(v)`, allocating.
    fn prox(&self, v: ArrayViewD<T>, tau: f32) -> ArrayD<T> {
        let mut out = ArrayD::from_elem(IxDyn(v.shape()), T::zero());
        self.prox_into(v, tau, out.view_mut());
        out
    }

    /// `out <- prox_{σ g*}(v)` for the convex conjugate `g*`, by Moreau's identity
    /// `prox_{σ g*}(v) = v − σ prox_{g/σ}(v/σ)`. Override where a direct form is cheaper
    /// (e.g. the projection onto a dual-norm ball).
    fn prox_conj_into(&self, v: ArrayViewD<T>, sigma: f32, mut out: ArrayViewMutD<T>) {
        let scaled = v.mapv(|a| a * (1.0 / sigma));
        self.prox_into(scaled.view(), 1.0 / sigma, out.view_mut());
        ndarray::Zip::from(&mut out)
            .and(&v)
            .for_each(|o, &a| *o = a - *o * sigma);
    }
}

/// A differentiable function with an `L`-Lipschitz gradient.
pub trait Gradient<T: Scalar>: Send + Sync {
    /// `out <- ∇f(x)`; `out` is overwritten, never read.
    fn gradient_into(&self, x: ArrayViewD<T>, out: ArrayViewMutD<T>);

    /// `∇f(x)`, allocating.
    fn gradient(&self, x: ArrayViewD<T>) -> ArrayD<T> {
        let mut out = ArrayD::from_elem(IxDyn(x.shape()), T::zero());
        self.gradient_into(x, out.view_mut());
        out
    }

    /// A Lipschitz constant of `∇f` when known (e.g. `||A||²` for `½||A x − y||²`).
    fn lipschitz(&self) -> Option<f64>;
}
