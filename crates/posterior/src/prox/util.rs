//! Small helpers shared by the proximal operators.

use std::borrow::Cow;

use ndarray::{ArrayViewD, ArrayViewMutD};

use crate::scalar::Scalar;

/// Contiguous (row-major) data of a view, copying only when the view is strided.
pub(crate) fn contiguous<'a, T: Scalar>(x: &'a ArrayViewD<'a, T>) -> Cow<'a, [T]> {
    match x.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.iter().copied().collect()),
    }
}

/// Run `f` on a contiguous row-major buffer for `out`, writing back when `out` is strided.
pub(crate) fn with_contiguous_out<T: Scalar, R>(
    mut out: ArrayViewMutD<T>,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    if let Some(s) = out.as_slice_mut() {
        return f(s);
    }
    let mut tmp = vec![T::zero(); out.len()];
    let r = f(&mut tmp);
    for (o, t) in out.iter_mut().zip(tmp) {
        *o = t;
    }
    r
}
