//! `Counted<O>`: an operator wrapper that counts applications of `A` and `A^H`.
//!
//! Solvers wrap their operator in it so that reports can state what a reconstruction
//! cost in the unit users pay for: "143 iterations, 144 A-applications, 145 A^H-applications".

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayViewD, ArrayViewMutD};
use serde::Serialize;

use super::LinearOperator;

/// Numbers of forward (`A`) and adjoint (`A^H`) applications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpCounts {
    /// Applications of `A`.
    pub forward: u64,
    /// Applications of `A^H`.
    pub adjoint: u64,
}

impl std::ops::Add for OpCounts {
    type Output = OpCounts;
    fn add(self, o: OpCounts) -> OpCounts {
        OpCounts {
            forward: self.forward + o.forward,
            adjoint: self.adjoint + o.adjoint,
        }
    }
}

impl std::fmt::Display for OpCounts {
    /// `287 A, 286 A^H`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} A, {} A^H", self.forward, self.adjoint)
    }
}

/// A [`LinearOperator`] that behaves exactly like the wrapped one and counts how often
/// its forward and adjoint maps are applied.
///
/// Every `apply*` call counts one forward application, every `adjoint*` call one adjoint
/// application, and [`normal_into`](LinearOperator::normal_into) (`A^H A x`) counts one of
/// each, whether or not the inner operator evaluates it through a cheaper fused path.
/// Counters are relaxed atomics, so the wrapper stays `Send + Sync` and may be shared
/// between threads; the counts are exact, only their ordering relative to other memory
/// operations is unspecified.
///
/// ```
/// use ndarray::ArrayD;
/// use posterior::ops::{Identity, LinearOperator, counted::Counted};
/// let op = Counted::new(Identity::<f32>::new(&[4]));
/// let x = ArrayD::<f32>::ones(ndarray::IxDyn(&[4]));
/// let y = op.apply(x.view());
/// let _ = op.adjoint(y.view());
/// let _ = op.adjoint(y.view());
/// assert_eq!((op.counts().forward, op.counts().adjoint), (1, 2));
/// ```
pub struct Counted<O> {
    op: O,
    forward: AtomicU64,
    adjoint: AtomicU64,
}

impl<O: LinearOperator> Counted<O> {
    /// Wrap an operator with both counters at zero.
    pub fn new(op: O) -> Self {
        Counted {
            op,
            forward: AtomicU64::new(0),
            adjoint: AtomicU64::new(0),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> OpCounts {
        OpCounts {
            forward: self.forward.load(Ordering::Relaxed),
            adjoint: self.adjoint.load(Ordering::Relaxed),
        }
    }

    /// Set both counters back to zero.
    pub fn reset(&self) {
        self.forward.store(0, Ordering::Relaxed);
        self.adjoint.store(0, Ordering::Relaxed);
    }

    /// The wrapped operator (applications through it are not counted).
    pub fn inner(&self) -> &O {
        &self.op
    }

    /// Unwrap.
    pub fn into_inner(self) -> O {
        self.op
    }
}

impl<O: LinearOperator> LinearOperator for Counted<O> {
    type Domain = O::Domain;
    type Range = O::Range;
    fn describe(&self) -> String {
        self.op.describe()
    }
    fn domain_shape(&self) -> &[usize] {
        self.op.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.op.range_shape()
    }
    fn apply_into(&self, x: ArrayViewD<O::Domain>, y: ArrayViewMutD<O::Range>) {
        self.forward.fetch_add(1, Ordering::Relaxed);
        self.op.apply_into(x, y)
    }
    fn adjoint_into(&self, y: ArrayViewD<O::Range>, x: ArrayViewMutD<O::Domain>) {
        self.adjoint.fetch_add(1, Ordering::Relaxed);
        self.op.adjoint_into(y, x)
    }
    fn normal_into(&self, x: ArrayViewD<O::Domain>, out: ArrayViewMutD<O::Domain>) {
        self.forward.fetch_add(1, Ordering::Relaxed);
        self.adjoint.fetch_add(1, Ordering::Relaxed);
        self.op.normal_into(x, out)
    }
    fn measured(&self) -> Option<ndarray::ArrayD<bool>> {
        self.op.measured()
    }
    fn gram(&self) -> Option<super::Gram> {
        self.op.gram()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Identity, norm_estimate};
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn counts_each_kind_of_application() {
        let op = Counted::new(Identity::<f32>::new(&[3, 2]));
        let x = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32);
        let mut out = ArrayD::zeros(IxDyn(&[3, 2]));
        assert_eq!(op.counts(), OpCounts::default());
        op.apply_into(x.view(), out.view_mut());
        assert_eq!(out, x, "the wrapper must not change results");
        let _ = op.apply(x.view());
        let _ = op.adjoint(x.view());
        op.normal_into(x.view(), out.view_mut());
        assert_eq!(
            op.counts(),
            OpCounts {
                forward: 3,
                adjoint: 2
            }
        );
        assert_eq!(op.counts().to_string(), "3 A, 2 A^H");
        op.reset();
        assert_eq!(op.counts(), OpCounts::default());
    }

    #[test]
    fn counts_through_borrowed_operators_and_norm_estimate() {
        let inner = Identity::<f32>::new(&[5]);
        let op = Counted::new(&inner);
        let n = norm_estimate(&op, 10, 1);
        assert!((n - 1.0).abs() < 1e-6);
        let c = op.counts();
        // The identity converges after two power iterations; each is one A^H A.
        assert_eq!(c.forward, c.adjoint);
        assert!(c.forward >= 1 && c.forward <= 10, "{c:?}");
        let sum = c + c;
        assert_eq!(sum.forward, 2 * c.forward);
    }
}
