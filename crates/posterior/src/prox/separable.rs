//! Separable sums `g(w) = g₁(w₁) + g₂(w₂)` over the two blocks of a stacked array (the
//! range layout of [`Pair`](crate::ops::Pair)): their proxes and conjugate proxes act
//! block by block.

use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};

use super::{Functional, Prox};
use crate::scalar::Scalar;

/// `g(w) = g₁(w₁) + g₂(w₂)` for a flat `w = [vec(w₁); vec(w₂)]` with `w₁` of shape `first`
/// and `w₂` of shape `second`.
pub struct Separable2<'a, T: Scalar> {
    g1: &'a dyn Prox<T>,
    v1: Option<&'a dyn Functional<T>>,
    first: Vec<usize>,
    g2: &'a dyn Prox<T>,
    v2: Option<&'a dyn Functional<T>>,
    second: Vec<usize>,
}

impl<'a, T: Scalar> Separable2<'a, T> {
    /// The separable sum of `g1` on blocks of `first` shape and `g2` on `second`.
    pub fn new(
        g1: &'a dyn Prox<T>,
        first: &[usize],
        g2: &'a dyn Prox<T>,
        second: &[usize],
    ) -> Self {
        Separable2 {
            g1,
            v1: None,
            first: first.to_vec(),
            g2,
            v2: None,
            second: second.to_vec(),
        }
    }

    /// Supply the values of `g1` and `g2` (for [`Functional`]; without them the value is
    /// `NaN`).
    pub fn with_values(mut self, v1: &'a dyn Functional<T>, v2: &'a dyn Functional<T>) -> Self {
        self.v1 = Some(v1);
        self.v2 = Some(v2);
        self
    }

    fn n1(&self) -> usize {
        self.first.iter().product()
    }

    fn run(
        &self,
        v: ArrayViewD<T>,
        mut out: ArrayViewMutD<T>,
        f: impl Fn(&dyn Prox<T>, ArrayViewD<T>, ArrayViewMutD<T>),
    ) {
        let n1 = self.n1();
        let v = v.as_standard_layout();
        let vs = v.as_slice().expect("standard layout");
        let os = out
            .as_slice_mut()
            .expect("separable prox output must be contiguous");
        assert_eq!(vs.len(), os.len(), "separable prox: shape mismatch");
        let (o1, o2) = os.split_at_mut(n1);
        let v1 = ArrayViewD::from_shape(IxDyn(&self.first), &vs[..n1]).expect("first block");
        let v2 = ArrayViewD::from_shape(IxDyn(&self.second), &vs[n1..]).expect("second block");
        f(
            self.g1,
            v1,
            ArrayViewMutD::from_shape(IxDyn(&self.first), o1).expect("first block"),
        );
        f(
            self.g2,
            v2,
            ArrayViewMutD::from_shape(IxDyn(&self.second), o2).expect("second block"),
        );
    }
}

impl<T: Scalar> Functional<T> for Separable2<'_, T> {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        let (Some(v1), Some(v2)) = (self.v1, self.v2) else {
            return f64::NAN;
        };
        let n1 = self.n1();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let a = ArrayViewD::from_shape(IxDyn(&self.first), &xs[..n1]).expect("first block");
        let b = ArrayViewD::from_shape(IxDyn(&self.second), &xs[n1..]).expect("second block");
        v1.value(a) + v2.value(b)
    }
}

impl<T: Scalar> Prox<T> for Separable2<'_, T> {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, out: ArrayViewMutD<T>) {
        self.run(v, out, |g, a, o| g.prox_into(a, tau, o));
    }
    fn prox_conj_into(&self, v: ArrayViewD<T>, sigma: f32, out: ArrayViewMutD<T>) {
        self.run(v, out, |g, a, o| g.prox_conj_into(a, sigma, o));
    }
}
