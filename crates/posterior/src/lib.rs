//! # posterior
//!
//! Imaging inverse problems `y = A x + n`: forward operators with exact adjoints, noise
//! models, metrics, image I/O, phantoms and the iterative solvers that recover `x`.
//!
//! The crate is organised as in the design document: `ops` (the physics), `noise`,
//! `solve` (the `Driver` and the algorithms), `metrics`, `io` and `phantom`. It has no
//! deep-learning dependency; networks live in a separate crate.
#![warn(missing_docs)]

pub mod data;
pub mod denoise;
pub mod error;
pub mod fft;
pub mod io;
pub mod linalg;
pub mod methods;
pub mod metrics;
pub mod noise;
pub mod ops;
pub mod phantom;
pub mod prox;
pub mod scalar;
pub mod solve;
pub mod spec;
pub mod transforms;

pub use error::{Error, Result};
pub use ops::{AnyOperator, LinearOperator};
pub use scalar::{Scalar, c32};
pub use spec::Spec;

/// A seeded random number generator (xoshiro256++): every stochastic result in the
/// project starts from one of these, so a seed reproduces it.
pub fn rng(seed: u64) -> rand::rngs::Xoshiro256PlusPlus {
    use rand::SeedableRng;
    rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed)
}
