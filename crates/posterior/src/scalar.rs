//! Element types: real `f32` images and complex `Complex<f32>` data (MRI k-space).

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use num_complex::Complex;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Single-precision complex number, the element type of k-space data.
#[allow(non_camel_case_types)] // reason: the conventional short name in numerical code
pub type c32 = Complex<f32>;

/// The element type of operator domains and ranges: `f32` or [`c32`].
///
/// Inner products are the real inner product `Re <a, b> = Re Σ conj(a_i) b_i`, so a
/// real-linear map between real and complex spaces has a well-defined adjoint.
pub trait Scalar:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialEq
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Mul<f32, Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
{
    /// Whether the type carries an imaginary part.
    const IS_COMPLEX: bool;
    /// Name used in messages and `.npy` headers.
    const NAME: &'static str;
    /// Additive identity.
    fn zero() -> Self;
    /// Embed a real number.
    fn from_real(r: f32) -> Self;
    /// Complex conjugate (identity for reals).
    fn conj(self) -> Self;
    /// Build from real and imaginary parts (reals ignore `im`).
    fn from_parts(re: f32, im: f32) -> Self;
    /// Real part.
    fn re(self) -> f32;
    /// Imaginary part (0 for reals).
    fn im(self) -> f32;
    /// Squared modulus.
    fn abs2(self) -> f32;
    /// Modulus.
    fn abs(self) -> f32 {
        self.abs2().sqrt()
    }
    /// `Re(conj(self) * other)` in f64.
    fn dot_re(self, other: Self) -> f64;
    /// True when every component is finite.
    fn is_finite(self) -> bool;
    /// A standard normal draw; complex draws have unit variance on each of the real and
    /// imaginary parts.
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self;
}

impl Scalar for f32 {
    const IS_COMPLEX: bool = false;
    const NAME: &'static str = "float32";
    #[inline]
    fn zero() -> Self {
        0.0
    }
    #[inline]
    fn from_real(r: f32) -> Self {
        r
    }
    #[inline]
    fn conj(self) -> Self {
        self
    }
    #[inline]
    fn from_parts(re: f32, _im: f32) -> Self {
        re
    }
    #[inline]
    fn re(self) -> f32 {
        self
    }
    #[inline]
    fn im(self) -> f32 {
        0.0
    }
    #[inline]
    fn abs2(self) -> f32 {
        self * self
    }
    #[inline]
    fn abs(self) -> f32 {
        f32::abs(self)
    }
    #[inline]
    fn dot_re(self, other: Self) -> f64 {
        self as f64 * other as f64
    }
    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self {
        StandardNormal.sample(rng)
    }
}

impl Scalar for c32 {
    const IS_COMPLEX: bool = true;
    const NAME: &'static str = "complex64";
    #[inline]
    fn zero() -> Self {
        Complex::new(0.0, 0.0)
    }
    #[inline]
    fn from_real(r: f32) -> Self {
        Complex::new(r, 0.0)
    }
    #[inline]
    fn conj(self) -> Self {
        Complex::conj(&self)
    }
    #[inline]
    fn from_parts(re: f32, im: f32) -> Self {
        Complex::new(re, im)
    }
    #[inline]
    fn re(self) -> f32 {
        self.re
    }
    #[inline]
    fn im(self) -> f32 {
        self.im
    }
    #[inline]
    fn abs2(self) -> f32 {
        self.norm_sqr()
    }
    #[inline]
    fn abs(self) -> f32 {
        self.norm()
    }
    #[inline]
    fn dot_re(self, other: Self) -> f64 {
        self.re as f64 * other.re as f64 + self.im as f64 * other.im as f64
    }
    #[inline]
    fn is_finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Complex::new(StandardNormal.sample(rng), StandardNormal.sample(rng))
    }
}
