//! Transforms on signals and images: orthonormal sparsifying transforms and finite
//! differences.
//!
//! [`dct`] holds the orthonormal discrete cosine transform (DCT-II and its inverse, the
//! DCT-III) in one and two dimensions, computed in `O(n log n)` through a complex FFT;
//! [`dct_op`] wraps it as linear operators on images (global and 8x8 blockwise), and
//! [`wavelet`] holds the orthonormal multilevel 2-D wavelet transform. All of them are
//! orthogonal [`LinearOperator`](crate::ops::LinearOperator)s: adjoint = inverse.
//! [`finite_diff`] holds the discrete gradient (forward differences, Neumann boundary), its
//! adjoint `−div` and the 5-point Laplacian.

pub mod dct;
pub mod dct_op;
pub mod finite_diff;
pub mod wavelet;

pub use dct::{Dct1, Dct2};
pub use dct_op::{BlockDct8, Dct2Op};
pub use finite_diff::{Gradient2d, Laplacian, divergence};
pub use wavelet::{Wavelet, Wavelet2d};
