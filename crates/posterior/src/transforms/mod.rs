//! Orthonormal sparsifying transforms on real signals and images.
//!
//! [`dct`] holds the orthonormal discrete cosine transform (DCT-II and its inverse, the
//! DCT-III) in one and two dimensions, computed in `O(n log n)` through a complex FFT;
//! [`dct_op`] wraps it as linear operators on images (global and 8x8 blockwise), and
//! [`wavelet`] holds the orthonormal multilevel 2-D wavelet transform. All of them are
//! orthogonal [`LinearOperator`](crate::ops::LinearOperator)s: adjoint = inverse.

pub mod dct;
pub mod dct_op;
pub mod wavelet;

pub use dct::{Dct1, Dct2};
pub use dct_op::{BlockDct8, Dct2Op};
pub use wavelet::{Wavelet, Wavelet2d};
