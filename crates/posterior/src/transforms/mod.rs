//! Orthonormal sparsifying transforms on real signals and images.
//!
//! [`dct`] holds the orthonormal discrete cosine transform (DCT-II and its inverse, the
//! DCT-III) in one and two dimensions, computed in `O(n log n)` through a complex FFT.

pub mod dct;

pub use dct::{Dct1, Dct2};
