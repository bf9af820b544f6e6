//! `denoise`: the identity operator, `y = x + n`.

use ndarray::{ArrayViewD, ArrayViewMutD};

use super::LinearOperator;
use crate::scalar::Scalar;

/// The identity on arrays of a fixed shape.
pub struct Identity<T> {
    shape: Vec<usize>,
    _t: std::marker::PhantomData<T>,
}

impl<T: Scalar> Identity<T> {
    /// Identity on arrays of `shape`.
    pub fn new(shape: &[usize]) -> Self {
        Identity {
            shape: shape.to_vec(),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T: Scalar> LinearOperator for Identity<T> {
    type Domain = T;
    type Range = T;
    fn describe(&self) -> String {
        "identity".into()
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_into(&self, x: ArrayViewD<T>, mut y: ArrayViewMutD<T>) {
        y.assign(&x);
    }
    fn adjoint_into(&self, y: ArrayViewD<T>, mut x: ArrayViewMutD<T>) {
        x.assign(&y);
    }
    fn normal_into(&self, x: ArrayViewD<T>, mut out: ArrayViewMutD<T>) {
        out.assign(&x);
    }
    fn gram(&self) -> Option<super::Gram> {
        Some(super::Gram::Scalar(1.0))
    }
}
