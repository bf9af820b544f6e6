//! The physics: bounded linear forward operators `A` with exact adjoints.
//!
//! Every operator implements [`LinearOperator`] and is listed in [`registry()`], which the
//! conformance tests sweep (dot-product adjoint test, agreement with a dense matrix built
//! column by column, linearity, dirty output buffers).

pub mod blur;
pub mod counted;
pub mod cs;
pub mod ct;
pub mod ct_fbp;
pub mod identity;
pub mod inpaint;
pub mod kernels;
pub mod mri;
pub mod registry;
pub mod sr;

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};
use rand::SeedableRng;

use crate::error::{Error, Result};
use crate::linalg;
use crate::scalar::Scalar;

pub use identity::Identity;
pub use registry::{AnyOperator, OperatorEntry, build_operator, registry};

/// A bounded linear map `A: X -> Y` between arrays of fixed shapes.
///
/// Contract: for all `x`, `y`, `Re <A x, y> = Re <x, A^H y>` up to rounding, where the inner
/// product is the real one of [`Scalar`]. `*_into` methods overwrite their output buffer
/// entirely and never read it; they panic when shapes differ from
/// [`domain_shape`](Self::domain_shape) / [`range_shape`](Self::range_shape) (check user data
/// first with [`check_domain`](Self::check_domain) / [`check_range`](Self::check_range)).
/// Operators are immutable and `Send + Sync`: a new kernel or mask builds a new operator.
pub trait LinearOperator: Send + Sync {
    /// Element type of the domain.
    type Domain: Scalar;
    /// Element type of the range.
    type Range: Scalar;

    /// Short human-readable description, e.g. `blur(gaussian 9x9, circular)`.
    fn describe(&self) -> String;
    /// Shape of `x`.
    fn domain_shape(&self) -> &[usize];
    /// Shape of `y = A x`.
    fn range_shape(&self) -> &[usize];
    /// `y <- A x`.
    fn apply_into(&self, x: ArrayViewD<Self::Domain>, y: ArrayViewMutD<Self::Range>);
    /// `x <- A^H y`.
    fn adjoint_into(&self, y: ArrayViewD<Self::Range>, x: ArrayViewMutD<Self::Domain>);

    /// `A x`, allocating.
    fn apply(&self, x: ArrayViewD<Self::Domain>) -> ArrayD<Self::Range> {
        let mut y = ArrayD::from_elem(IxDyn(self.range_shape()), Self::Range::zero());
        self.apply_into(x, y.view_mut());
        y
    }

    /// `A^H y`, allocating.
    fn adjoint(&self, y: ArrayViewD<Self::Range>) -> ArrayD<Self::Domain> {
        let mut x = ArrayD::from_elem(IxDyn(self.domain_shape()), Self::Domain::zero());
        self.adjoint_into(y, x.view_mut());
        x
    }

    /// `A^H A x`, allocating.
    fn normal(&self, x: ArrayViewD<Self::Domain>) -> ArrayD<Self::Domain> {
        let mut out = ArrayD::from_elem(IxDyn(self.domain_shape()), Self::Domain::zero());
        self.normal_into(x, out.view_mut());
        out
    }

    /// `out <- A^H A x`. Override where cheaper (FFT-diagonal operators).
    fn normal_into(&self, x: ArrayViewD<Self::Domain>, out: ArrayViewMutD<Self::Domain>) {
        let y = self.apply(x);
        self.adjoint_into(y.view(), out);
    }

    /// Which entries of the range are measured, as a range-shaped boolean array, for
    /// operators whose range holds structural zeros (unsampled k-space, missing pixels).
    /// Simulated noise is added only where this is `true`. `None` (the default) means every
    /// entry is measured.
    fn measured(&self) -> Option<ArrayD<bool>> {
        None
    }

    /// The structure of `AᴴA` when it is diagonal in a known basis ([`Gram`]), so that
    /// `(AᴴA + ρ KᴴK) x = b` can be solved exactly (see `solve::quadratic`). `None` (the
    /// default): no known structure, solvers fall back to conjugate gradients.
    fn gram(&self) -> Option<Gram> {
        None
    }

    /// Check that `shape` is this operator's domain shape.
    fn check_domain(&self, shape: &[usize], context: &str) -> Result<()> {
        check_shape(self.domain_shape(), shape, context)
    }

    /// Check that `shape` is this operator's range shape.
    fn check_range(&self, shape: &[usize], context: &str) -> Result<()> {
        check_shape(self.range_shape(), shape, context)
    }
}

/// A diagonalization of the normal operator `AᴴA` (the Gram operator).
#[derive(Debug, Clone, PartialEq)]
pub enum Gram {
    /// `AᴴA = c I`.
    Scalar(f32),
    /// `AᴴA = diag(d)` in pixel space; `d` (real, `>= 0`) has the domain shape.
    Pixel(ArrayD<f32>),
    /// `AᴴA x = F⁻¹(s ⊙ F x)` on every `[H, W]` plane of the domain, `F` the 2-D DFT in the
    /// unshifted frequency layout; `s` (`[H, W]`, real, `>= 0`) satisfies `s(ω) = s(−ω)`,
    /// so real images stay real.
    Fourier(ndarray::Array2<f32>),
}

impl Gram {
    /// `α² AᴴA` for the operator `α A`.
    pub fn scaled(self, alpha2: f32) -> Gram {
        match self {
            Gram::Scalar(c) => Gram::Scalar(c * alpha2),
            Gram::Pixel(d) => Gram::Pixel(d * alpha2),
            Gram::Fourier(s) => Gram::Fourier(s * alpha2),
        }
    }

    /// The Gram of `[A; B]`, `AᴴA + BᴴB`, when both are diagonal in a common basis.
    pub fn sum(self, other: Gram) -> Option<Gram> {
        Some(match (self, other) {
            (Gram::Scalar(a), Gram::Scalar(b)) => Gram::Scalar(a + b),
            (Gram::Scalar(a), Gram::Pixel(d)) | (Gram::Pixel(d), Gram::Scalar(a)) => {
                Gram::Pixel(d + a)
            }
            (Gram::Scalar(a), Gram::Fourier(s)) | (Gram::Fourier(s), Gram::Scalar(a)) => {
                Gram::Fourier(s + a)
            }
            (Gram::Pixel(a), Gram::Pixel(b)) if a.shape() == b.shape() => Gram::Pixel(a + b),
            (Gram::Fourier(a), Gram::Fourier(b)) if a.shape() == b.shape() => Gram::Fourier(a + b),
            _ => return None,
        })
    }
}

/// Error unless `got == expected`.
pub fn check_shape(expected: &[usize], got: &[usize], context: &str) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::Shape {
            context: context.to_string(),
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

/// Boxed operator from real images to data of type `R`.
pub type BoxOp<D, R> = Box<dyn LinearOperator<Domain = D, Range = R>>;

macro_rules! forward_impl {
    ($($ptr:ty),*) => {$(
        impl<O: LinearOperator + ?Sized> LinearOperator for $ptr {
            type Domain = O::Domain;
            type Range = O::Range;
            fn describe(&self) -> String { (**self).describe() }
            fn domain_shape(&self) -> &[usize] { (**self).domain_shape() }
            fn range_shape(&self) -> &[usize] { (**self).range_shape() }
            fn apply_into(&self, x: ArrayViewD<O::Domain>, y: ArrayViewMutD<O::Range>) {
                (**self).apply_into(x, y)
            }
            fn adjoint_into(&self, y: ArrayViewD<O::Range>, x: ArrayViewMutD<O::Domain>) {
                (**self).adjoint_into(y, x)
            }
            fn normal_into(&self, x: ArrayViewD<O::Domain>, out: ArrayViewMutD<O::Domain>) {
                (**self).normal_into(x, out)
            }
            fn measured(&self) -> Option<ArrayD<bool>> { (**self).measured() }
            fn gram(&self) -> Option<Gram> { (**self).gram() }
        }
    )*};
}
forward_impl!(Box<O>, Arc<O>, &O);

/// Estimate the operator norm `||A||_2` (largest singular value) by power iteration on
/// `A^H A` from a seeded random start. Returns the Rayleigh-quotient estimate after
/// `iters` iterations or earlier when it changes by less than `1e-6` relatively.
pub fn norm_estimate<O: LinearOperator + ?Sized>(op: &O, iters: usize, seed: u64) -> f64 {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = ArrayD::from_shape_simple_fn(IxDyn(op.domain_shape()), || {
        O::Domain::standard_normal(&mut rng)
    });
    let mut ax = ArrayD::from_elem(IxDyn(op.domain_shape()), O::Domain::zero());
    let mut est = 0.0f64;
    for _ in 0..iters.max(1) {
        let n = linalg::norm2(x.view());
        if n == 0.0 {
            return 0.0;
        }
        x.mapv_inplace(|v| v * (1.0 / n) as f32);
        op.normal_into(x.view(), ax.view_mut());
        let new = linalg::dot(x.view(), ax.view()).max(0.0).sqrt();
        std::mem::swap(&mut x, &mut ax);
        if (new - est).abs() <= 1e-6 * new {
            return new;
        }
        est = new;
    }
    est
}

/// `A ∘ B`: apply `B` first, then `A`.
pub struct Compose<A, B> {
    a: A,
    b: B,
}

impl<A, B> Compose<A, B>
where
    A: LinearOperator,
    B: LinearOperator<Range = A::Domain>,
{
    /// Compose, checking that `B`'s range is `A`'s domain.
    pub fn new(a: A, b: B) -> Result<Self> {
        check_shape(a.domain_shape(), b.range_shape(), "composition A∘B")?;
        Ok(Compose { a, b })
    }
}

impl<A, B> LinearOperator for Compose<A, B>
where
    A: LinearOperator,
    B: LinearOperator<Range = A::Domain>,
{
    type Domain = B::Domain;
    type Range = A::Range;
    fn describe(&self) -> String {
        format!("{} ∘ {}", self.a.describe(), self.b.describe())
    }
    fn domain_shape(&self) -> &[usize] {
        self.b.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.a.range_shape()
    }
    fn apply_into(&self, x: ArrayViewD<Self::Domain>, y: ArrayViewMutD<Self::Range>) {
        let t = self.b.apply(x);
        self.a.apply_into(t.view(), y);
    }
    fn adjoint_into(&self, y: ArrayViewD<Self::Range>, x: ArrayViewMutD<Self::Domain>) {
        let t = self.a.adjoint(y);
        self.b.adjoint_into(t.view(), x);
    }
    fn measured(&self) -> Option<ArrayD<bool>> {
        self.a.measured()
    }
}

/// `alpha * A` for a real scalar `alpha`.
pub struct Scaled<A> {
    a: A,
    alpha: f32,
}

impl<A: LinearOperator> Scaled<A> {
    /// Scale an operator.
    pub fn new(a: A, alpha: f32) -> Self {
        Scaled { a, alpha }
    }
}

impl<A: LinearOperator> LinearOperator for Scaled<A> {
    type Domain = A::Domain;
    type Range = A::Range;
    fn describe(&self) -> String {
        format!("{} * {}", self.alpha, self.a.describe())
    }
    fn domain_shape(&self) -> &[usize] {
        self.a.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.a.range_shape()
    }
    fn apply_into(&self, x: ArrayViewD<Self::Domain>, mut y: ArrayViewMutD<Self::Range>) {
        self.a.apply_into(x, y.view_mut());
        y.mapv_inplace(|v| v * self.alpha);
    }
    fn adjoint_into(&self, y: ArrayViewD<Self::Range>, mut x: ArrayViewMutD<Self::Domain>) {
        self.a.adjoint_into(y, x.view_mut());
        x.mapv_inplace(|v| v * self.alpha);
    }
    fn normal_into(&self, x: ArrayViewD<Self::Domain>, mut out: ArrayViewMutD<Self::Domain>) {
        self.a.normal_into(x, out.view_mut());
        let a2 = self.alpha * self.alpha;
        out.mapv_inplace(|v| v * a2);
    }
    fn measured(&self) -> Option<ArrayD<bool>> {
        self.a.measured()
    }
    fn gram(&self) -> Option<Gram> {
        self.a.gram().map(|g| g.scaled(self.alpha * self.alpha))
    }
}

/// Vertical stack `[A_1; A_2; ...]` of operators sharing a domain. The range is the
/// concatenation of the flattened ranges, a 1-D array of length `Σ |range(A_i)|`.
pub struct Stack<D: Scalar, R: Scalar> {
    ops: Vec<BoxOp<D, R>>,
    offsets: Vec<usize>,
    domain: Vec<usize>,
    range: Vec<usize>,
}

impl<D: Scalar, R: Scalar> Stack<D, R> {
    /// Stack operators with equal domain shapes.
    pub fn new(ops: Vec<BoxOp<D, R>>) -> Result<Self> {
        let first = ops
            .first()
            .ok_or_else(|| Error::param("stack", "needs at least one operator"))?;
        let domain = first.domain_shape().to_vec();
        let mut offsets = vec![0];
        for op in &ops {
            check_shape(&domain, op.domain_shape(), "stack (domains must agree)")?;
            let n: usize = op.range_shape().iter().product();
            offsets.push(offsets.last().unwrap() + n);
        }
        let range = vec![*offsets.last().unwrap()];
        Ok(Stack {
            ops,
            offsets,
            domain,
            range,
        })
    }

    /// The block of a stacked range array that belongs to operator `i`.
    pub fn block<'a>(&self, y: &'a ArrayD<R>, i: usize) -> ArrayViewD<'a, R> {
        let s = y
            .as_slice()
            .expect("stack range arrays are contiguous")
            .get(self.offsets[i]..self.offsets[i + 1])
            .expect("block index");
        ArrayViewD::from_shape(IxDyn(self.ops[i].range_shape()), s).expect("block shape")
    }
}

impl<D: Scalar, R: Scalar> LinearOperator for Stack<D, R> {
    type Domain = D;
    type Range = R;
    fn describe(&self) -> String {
        let parts: Vec<String> = self.ops.iter().map(|o| o.describe()).collect();
        format!("[{}]", parts.join("; "))
    }
    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_into(&self, x: ArrayViewD<D>, mut y: ArrayViewMutD<R>) {
        let ys = y.as_slice_mut().expect("stack range must be contiguous");
        for (i, op) in self.ops.iter().enumerate() {
            let part = &mut ys[self.offsets[i]..self.offsets[i + 1]];
            let view = ArrayViewMutD::from_shape(IxDyn(op.range_shape()), part).expect("shape");
            op.apply_into(x.view(), view);
        }
    }
    fn adjoint_into(&self, y: ArrayViewD<R>, mut x: ArrayViewMutD<D>) {
        let ys = y.as_slice().expect("stack range must be contiguous");
        x.fill(D::zero());
        let mut tmp = ArrayD::from_elem(IxDyn(&self.domain), D::zero());
        for (i, op) in self.ops.iter().enumerate() {
            let part = &ys[self.offsets[i]..self.offsets[i + 1]];
            let view = ArrayViewD::from_shape(IxDyn(op.range_shape()), part).expect("shape");
            op.adjoint_into(view, tmp.view_mut());
            x += &tmp;
        }
    }
    fn gram(&self) -> Option<Gram> {
        let mut it = self.ops.iter();
        let mut g = it.next()?.gram()?;
        for op in it {
            g = g.sum(op.gram()?)?;
        }
        Some(g)
    }
}

/// Embedding of real arrays into complex ones, `x -> x + 0i`. Its adjoint (for the real
/// inner product) takes the real part. Composing it in front of a complex operator gives
/// the real-domain version of that operator.
pub struct RealToComplex {
    shape: Vec<usize>,
}

impl RealToComplex {
    /// Embedding for arrays of `shape`.
    pub fn new(shape: &[usize]) -> Self {
        RealToComplex {
            shape: shape.to_vec(),
        }
    }
}

impl LinearOperator for RealToComplex {
    type Domain = f32;
    type Range = crate::scalar::c32;
    fn describe(&self) -> String {
        "real->complex".into()
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_into(&self, x: ArrayViewD<f32>, mut y: ArrayViewMutD<crate::scalar::c32>) {
        ndarray::Zip::from(&mut y)
            .and(&x)
            .for_each(|y, &x| *y = crate::scalar::c32::new(x, 0.0));
    }
    fn adjoint_into(&self, y: ArrayViewD<crate::scalar::c32>, mut x: ArrayViewMutD<f32>) {
        ndarray::Zip::from(&mut x)
            .and(&y)
            .for_each(|x, y| *x = y.re);
    }
}

/// Split an image shape into (number of planes, height, width): `[H, W]` is one plane,
/// `[C, H, W]` is `C` planes. Operators acting on 2-D planes use this.
pub fn planes(shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *shape {
        [h, w] if h > 0 && w > 0 => Ok((1, h, w)),
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
        _ => Err(Error::param(
            "shape",
            format!(
                "expected an image shape [H, W] or [C, H, W] with positive sizes, got {shape:?}"
            ),
        )),
    }
}

/// Broadcast a per-plane `H x W` boolean mask to an image shape `[H, W]` or `[C, H, W]`.
pub fn broadcast_mask(mask: &ndarray::Array2<bool>, shape: &[usize]) -> ArrayD<bool> {
    let m = mask.view().into_dyn();
    match shape.len() {
        3 => m
            .insert_axis(ndarray::Axis(0))
            .broadcast(IxDyn(shape))
            .expect("mask matches the planes")
            .to_owned(),
        _ => m.to_owned(),
    }
}

/// Two borrowed operators stacked, `[α A; β B]`, sharing a domain and a range type. The
/// range is the concatenation of the flattened ranges (`[|range A| + |range B|]`), the
/// layout [`Separable2`](crate::prox::separable::Separable2) splits. Unlike [`Stack`] it
/// borrows its blocks and scales them, which PDHG uses to balance `[A/‖A‖; D]`.
pub struct Pair<'a, D: Scalar, R: Scalar> {
    a: &'a dyn LinearOperator<Domain = D, Range = R>,
    b: &'a dyn LinearOperator<Domain = D, Range = R>,
    alpha: f32,
    beta: f32,
    na: usize,
    range: Vec<usize>,
}

impl<'a, D: Scalar, R: Scalar> Pair<'a, D, R> {
    /// `[α A; β B]`; the domains must agree.
    pub fn new(
        a: &'a dyn LinearOperator<Domain = D, Range = R>,
        alpha: f32,
        b: &'a dyn LinearOperator<Domain = D, Range = R>,
        beta: f32,
    ) -> Result<Self> {
        check_shape(
            a.domain_shape(),
            b.domain_shape(),
            "pair (domains must agree)",
        )?;
        let na: usize = a.range_shape().iter().product();
        let nb: usize = b.range_shape().iter().product();
        Ok(Pair {
            a,
            b,
            alpha,
            beta,
            na,
            range: vec![na + nb],
        })
    }

    /// Number of entries of the first block.
    pub fn split(&self) -> usize {
        self.na
    }
}

impl<D: Scalar, R: Scalar> LinearOperator for Pair<'_, D, R> {
    type Domain = D;
    type Range = R;
    fn describe(&self) -> String {
        format!(
            "[{} * {}; {} * {}]",
            self.alpha,
            self.a.describe(),
            self.beta,
            self.b.describe()
        )
    }
    fn domain_shape(&self) -> &[usize] {
        self.a.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_into(&self, x: ArrayViewD<D>, mut y: ArrayViewMutD<R>) {
        let ys = y.as_slice_mut().expect("pair range must be contiguous");
        let (ya, yb) = ys.split_at_mut(self.na);
        let mut va = ArrayViewMutD::from_shape(IxDyn(self.a.range_shape()), ya).expect("shape");
        self.a.apply_into(x.view(), va.view_mut());
        if self.alpha != 1.0 {
            va.mapv_inplace(|v| v * self.alpha);
        }
        let mut vb = ArrayViewMutD::from_shape(IxDyn(self.b.range_shape()), yb).expect("shape");
        self.b.apply_into(x, vb.view_mut());
        if self.beta != 1.0 {
            vb.mapv_inplace(|v| v * self.beta);
        }
    }
    fn adjoint_into(&self, y: ArrayViewD<R>, mut x: ArrayViewMutD<D>) {
        let ys = y.as_slice().expect("pair range must be contiguous");
        let (ya, yb) = ys.split_at(self.na);
        let va = ArrayViewD::from_shape(IxDyn(self.a.range_shape()), ya).expect("shape");
        self.a.adjoint_into(va, x.view_mut());
        let vb = ArrayViewD::from_shape(IxDyn(self.b.range_shape()), yb).expect("shape");
        let tb = self.b.adjoint(vb);
        let (al, be) = (self.alpha, self.beta);
        ndarray::Zip::from(&mut x)
            .and(&tb)
            .for_each(|x, &t| *x = *x * al + t * be);
    }
    fn gram(&self) -> Option<Gram> {
        let ga = self.a.gram()?.scaled(self.alpha * self.alpha);
        ga.sum(self.b.gram()?.scaled(self.beta * self.beta))
    }
}
