//! Indicator functions of convex sets: value `0` on the set and `+∞` outside; the prox (for
//! every `τ`) is the Euclidean projection onto the set.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use super::{Functional, Prox};

/// The indicator of the box `{ x : lower ≤ x_i ≤ upper }` on real arrays; its prox clamps each
/// entry (NaN entries stay NaN). Infinite bounds are allowed (`f32::NEG_INFINITY`, `f32::INFINITY`). The brief's
/// `Box` is named `BoxConstraint` so that it does not shadow `std::boxed::Box`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxConstraint {
    /// Lower bound (may be `-∞`).
    pub lower: f32,
    /// Upper bound (may be `+∞`); `lower ≤ upper`.
    pub upper: f32,
}

impl BoxConstraint {
    /// The box `[lower, upper]`.
    ///
    /// # Panics
    /// If `lower > upper` or either bound is NaN.
    pub fn new(lower: f32, upper: f32) -> Self {
        assert!(
            lower <= upper,
            "BoxConstraint: need lower <= upper, got [{lower}, {upper}]"
        );
        BoxConstraint { lower, upper }
    }
}

impl Functional<f32> for BoxConstraint {
    fn value(&self, x: ArrayViewD<f32>) -> f64 {
        if x.iter().all(|&a| a >= self.lower && a <= self.upper) {
            0.0
        } else {
            f64::INFINITY
        }
    }
}

impl Prox<f32> for BoxConstraint {
    fn prox_into(&self, v: ArrayViewD<f32>, _tau: f32, mut out: ArrayViewMutD<f32>) {
        let (lo, hi) = (self.lower, self.upper);
        // comparisons rather than max/min so that a NaN input stays NaN (visible to callers)
        Zip::from(&mut out).and(&v).for_each(|o, &a| {
            *o = if a < lo {
                lo
            } else if a > hi {
                hi
            } else {
                a
            }
        });
    }
}

/// The indicator of the nonnegative orthant `{ x : x_i ≥ 0 }` on real arrays; its prox is
/// `max(v, 0)` (NaN entries stay NaN).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NonNegative;

impl Functional<f32> for NonNegative {
    fn value(&self, x: ArrayViewD<f32>) -> f64 {
        if x.iter().all(|&a| a >= 0.0) {
            0.0
        } else {
            f64::INFINITY
        }
    }
}

impl Prox<f32> for NonNegative {
    fn prox_into(&self, v: ArrayViewD<f32>, _tau: f32, mut out: ArrayViewMutD<f32>) {
        Zip::from(&mut out)
            .and(&v)
            .for_each(|o, &a| *o = if a < 0.0 { 0.0 } else { a });
    }
}
