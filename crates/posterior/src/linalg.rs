//! Vector-space helpers on n-dimensional arrays, accumulating in f64.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use crate::scalar::Scalar;

/// Real inner product `Re <a, b>` accumulated in f64.
pub fn dot<T: Scalar>(a: ArrayViewD<T>, b: ArrayViewD<T>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "dot: shape mismatch");
    match (a.as_slice_memory_order(), b.as_slice_memory_order()) {
        (Some(sa), Some(sb)) if a.strides() == b.strides() => {
            sa.iter().zip(sb).map(|(x, y)| x.dot_re(*y)).sum()
        }
        _ => {
            let mut acc = 0.0f64;
            Zip::from(&a).and(&b).for_each(|x, y| acc += x.dot_re(*y));
            acc
        }
    }
}

/// Squared Euclidean norm, f64 accumulation.
pub fn norm2_sq<T: Scalar>(a: ArrayViewD<T>) -> f64 {
    a.iter().map(|x| x.abs2() as f64).sum()
}

/// Euclidean norm, f64 accumulation.
pub fn norm2<T: Scalar>(a: ArrayViewD<T>) -> f64 {
    norm2_sq(a).sqrt()
}

/// `y <- y + alpha * x`.
pub fn axpy<T: Scalar>(alpha: f32, x: ArrayViewD<T>, mut y: ArrayViewMutD<T>) {
    Zip::from(&mut y).and(&x).for_each(|y, &x| *y += x * alpha);
}

/// `y <- x + beta * y`.
pub fn xpby<T: Scalar>(x: ArrayViewD<T>, beta: f32, mut y: ArrayViewMutD<T>) {
    Zip::from(&mut y)
        .and(&x)
        .for_each(|y, &x| *y = x + *y * beta);
}

/// True when every element is finite.
pub fn all_finite<T: Scalar>(a: ArrayViewD<T>) -> bool {
    a.iter().all(|x| x.is_finite())
}
