//! Transforms on signals and images: orthonormal sparsifying transforms and finite
//! differences.
//!
//! [`dct`] holds the orthonormal discrete cosine transform (DCT-II and its inverse, the
//! DCT-III) in one and two dimensions, computed in `O(n log n)` through a complex FFT.
//! [`finite_diff`] holds the discrete gradient (forward differences, Neumann boundary), its
//! adjoint `−div` and the 5-point Laplacian.

pub mod dct;
pub mod finite_diff;

pub use dct::{Dct1, Dct2};
pub use finite_diff::{Gradient2d, Laplacian, divergence};
