//! Norms and their proximal operators: `ℓ1` (soft thresholding), `½||·||²`, `||·||₂` (block
//! soft thresholding) and the mixed `ℓ2,1` group norm used by isotropic total variation.
//!
//! Complex arrays use the modulus: the `ℓ1` prox shrinks `|v_i|` and keeps the phase, and
//! group norms sum the squared moduli of real and imaginary parts.

use ndarray::{ArrayViewD, ArrayViewMutD, Zip};

use super::util::{contiguous, with_contiguous_out};
use super::{Functional, Gradient, Prox};
use crate::scalar::Scalar;

/// `v · max(0, 1 − t/|v|)`: shrink the modulus of `v` by `t`, keeping its phase.
#[inline]
fn shrink<T: Scalar>(v: T, t: f32) -> T {
    let m = v.abs();
    if m <= t { T::zero() } else { v * (1.0 - t / m) }
}

/// `v` radially projected onto the disc `|v| ≤ r`.
#[inline]
fn clip_modulus<T: Scalar>(v: T, r: f32) -> T {
    let m2 = v.abs2();
    if m2 <= r * r { v } else { v * (r / m2.sqrt()) }
}

/// The weighted `ℓ1` norm `g(x) = w Σ_i |x_i|` (modulus for complex entries).
///
/// `prox_{τg}(v)_i = v_i max(0, 1 − τw/|v_i|)` (soft thresholding; the phase is kept).
/// Its conjugate is the indicator of the `ℓ∞` ball of radius `w`, so `prox_conj_into` is the
/// entry-wise radial clip `|p_i| ≤ w` (independent of `σ`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L1 {
    /// The weight `w ≥ 0`.
    pub weight: f32,
}

impl<T: Scalar> Functional<T> for L1 {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        self.weight as f64 * x.iter().map(|v| v.abs() as f64).sum::<f64>()
    }
}

impl<T: Scalar> Prox<T> for L1 {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, mut out: ArrayViewMutD<T>) {
        let t = tau * self.weight;
        Zip::from(&mut out)
            .and(&v)
            .for_each(|o, &a| *o = shrink(a, t));
    }
    fn prox_conj_into(&self, v: ArrayViewD<T>, _sigma: f32, mut out: ArrayViewMutD<T>) {
        let r = self.weight;
        Zip::from(&mut out)
            .and(&v)
            .for_each(|o, &a| *o = clip_modulus(a, r));
    }
}

/// `g(x) = (w/2) ||x||²`, with `prox_{τg}(v) = v / (1 + τw)`, gradient `w x` (Lipschitz `w`)
/// and conjugate `g*(p) = ||p||²/(2w)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SquaredL2 {
    /// The weight `w ≥ 0`.
    pub weight: f32,
}

impl<T: Scalar> Functional<T> for SquaredL2 {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        0.5 * self.weight as f64 * x.iter().map(|v| v.abs2() as f64).sum::<f64>()
    }
}

impl<T: Scalar> Prox<T> for SquaredL2 {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, mut out: ArrayViewMutD<T>) {
        let s = 1.0 / (1.0 + tau * self.weight);
        Zip::from(&mut out).and(&v).for_each(|o, &a| *o = a * s);
    }
    fn prox_conj_into(&self, v: ArrayViewD<T>, sigma: f32, mut out: ArrayViewMutD<T>) {
        // prox of σ ||p||²/(2w): p = w v / (w + σ)
        let s = self.weight / (self.weight + sigma);
        Zip::from(&mut out).and(&v).for_each(|o, &a| *o = a * s);
    }
}

impl<T: Scalar> Gradient<T> for SquaredL2 {
    fn gradient_into(&self, x: ArrayViewD<T>, mut out: ArrayViewMutD<T>) {
        let w = self.weight;
        Zip::from(&mut out).and(&x).for_each(|o, &a| *o = a * w);
    }
    fn lipschitz(&self) -> Option<f64> {
        Some(self.weight as f64)
    }
}

/// The weighted Euclidean norm `g(x) = w ||x||₂` of the whole array (not squared).
///
/// `prox_{τg}(v) = v max(0, 1 − τw/||v||₂)` (block soft thresholding); the conjugate is the
/// indicator of the Euclidean ball of radius `w`, whose projection is `prox_conj_into`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L2Norm {
    /// The weight `w ≥ 0`.
    pub weight: f32,
}

impl<T: Scalar> Functional<T> for L2Norm {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        self.weight as f64 * crate::linalg::norm2(x)
    }
}

impl<T: Scalar> Prox<T> for L2Norm {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, mut out: ArrayViewMutD<T>) {
        let n = crate::linalg::norm2(v.view());
        let t = (tau * self.weight) as f64;
        let s = if n <= t { 0.0 } else { (1.0 - t / n) as f32 };
        Zip::from(&mut out).and(&v).for_each(|o, &a| *o = a * s);
    }
    fn prox_conj_into(&self, v: ArrayViewD<T>, _sigma: f32, mut out: ArrayViewMutD<T>) {
        let n = crate::linalg::norm2(v.view());
        let r = self.weight as f64;
        let s = if n <= r { 1.0 } else { (r / n) as f32 };
        Zip::from(&mut out).and(&v).for_each(|o, &a| *o = a * s);
    }
}

/// The mixed group norm `g(p) = w Σ_pixels ||p_pixel||₂`.
///
/// A group is the set of entries sharing the same index in the last `pixel_axes` axes; all
/// leading axes are gathered into the group vector. With the default `pixel_axes = 2`, a
/// gradient field `[2, H, W]` (see [`Gradient2d`](crate::transforms::Gradient2d)) has groups
/// `(p_v, p_h)` per pixel, so `g(D x)` is the isotropic total variation; a field
/// `[C, 2, H, W]` couples channels too (vectorial TV, groups of `2C`). Complex entries
/// contribute their squared modulus.
///
/// `prox_{τg}(v)_pixel = v_pixel max(0, 1 − τw/||v_pixel||)` (group soft thresholding). The
/// conjugate is the indicator of the `ℓ∞,2` ball `{ ||p_pixel|| ≤ w for every pixel }` and
/// `prox_conj_into` is its projection (independent of `σ`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L21 {
    /// The weight `w ≥ 0`.
    pub weight: f32,
    /// The number of trailing axes that index the groups (2 for `[.., H, W]` fields).
    pub pixel_axes: usize,
}

impl L21 {
    /// Groups over all leading axes of `[.., H, W]` arrays (`pixel_axes = 2`).
    pub fn new(weight: f32) -> Self {
        L21 {
            weight,
            pixel_axes: 2,
        }
    }

    /// `(group length, number of groups)` for an array of `shape`.
    fn layout(&self, shape: &[usize]) -> (usize, usize) {
        assert!(
            self.pixel_axes <= shape.len(),
            "L21: pixel_axes = {} exceeds the array rank {}",
            self.pixel_axes,
            shape.len()
        );
        let split = shape.len() - self.pixel_axes;
        let g: usize = shape[..split].iter().product();
        let m: usize = shape[split..].iter().product();
        (g, m)
    }

    /// Squared group norms of `x` (row-major), accumulated into `norms` (length `m`).
    fn group_norms2<T: Scalar>(xs: &[T], m: usize, norms: &mut [f32]) {
        norms.fill(0.0);
        for slab in xs.chunks_exact(m) {
            for (n, &a) in norms.iter_mut().zip(slab) {
                *n += a.abs2();
            }
        }
    }

    /// `out = v ⊙ factor(norm)` per group, for a per-group scaling rule.
    fn scale_groups<T: Scalar>(
        &self,
        v: ArrayViewD<T>,
        out: ArrayViewMutD<T>,
        rule: impl Fn(f32) -> f32,
    ) {
        assert_eq!(v.shape(), out.shape(), "L21: shape mismatch");
        let (_, m) = self.layout(v.shape());
        let vs = contiguous(&v);
        let mut factors = vec![0.0f32; m];
        Self::group_norms2(&vs, m, &mut factors);
        for f in factors.iter_mut() {
            *f = rule(f.sqrt());
        }
        with_contiguous_out(out, |os| {
            for (oslab, vslab) in os.chunks_exact_mut(m).zip(vs.chunks_exact(m)) {
                for ((o, &a), &f) in oslab.iter_mut().zip(vslab).zip(&factors) {
                    *o = a * f;
                }
            }
        });
    }
}

impl<T: Scalar> Functional<T> for L21 {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        let (_, m) = self.layout(x.shape());
        let xs = contiguous(&x);
        let mut norms = vec![0.0f32; m];
        Self::group_norms2(&xs, m, &mut norms);
        self.weight as f64 * norms.iter().map(|&n| (n as f64).sqrt()).sum::<f64>()
    }
}

impl<T: Scalar> Prox<T> for L21 {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, out: ArrayViewMutD<T>) {
        let t = tau * self.weight;
        self.scale_groups(v, out, |n| if n <= t { 0.0 } else { 1.0 - t / n });
    }
    fn prox_conj_into(&self, v: ArrayViewD<T>, _sigma: f32, out: ArrayViewMutD<T>) {
        let r = self.weight;
        self.scale_groups(v, out, |n| if n <= r { 1.0 } else { r / n });
    }
}

/// `g(x) = (w/2) ||x − c||²`, a weighted squared distance to a fixed point `c` (the least
/// squares fidelity `½‖K x − y‖²` as a function of `K x`, with `w = 1` and `c = y`).
/// `prox_{τg}(v) = (v + τ w c)/(1 + τ w)`; conjugate `g*(p) = ‖p‖²/(2w) + Re<p, c>`.
#[derive(Debug, Clone)]
pub struct SquaredDistance<T: Scalar> {
    /// The weight `w > 0`.
    pub weight: f32,
    /// The centre `c`.
    pub center: ndarray::ArrayD<T>,
}

impl<T: Scalar> Functional<T> for SquaredDistance<T> {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        let mut s = 0.0f64;
        ndarray::Zip::from(&x)
            .and(&self.center)
            .for_each(|&a, &c| s += (a - c).abs2() as f64);
        0.5 * self.weight as f64 * s
    }
}

impl<T: Scalar> Prox<T> for SquaredDistance<T> {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, mut out: ArrayViewMutD<T>) {
        let tw = tau * self.weight;
        let inv = 1.0 / (1.0 + tw);
        ndarray::Zip::from(&mut out)
            .and(&v)
            .and(&self.center)
            .for_each(|o, &a, &c| *o = (a + c * tw) * inv);
    }
    /// Direct form `w (v − σ c)/(σ + w)`: Moreau's identity loses all precision in f32 when
    /// `w/σ` is large (a heavily weighted fidelity, e.g. `[A/‖A‖; D]` stacks for CT).
    fn prox_conj_into(&self, v: ArrayViewD<T>, sigma: f32, mut out: ArrayViewMutD<T>) {
        let w = self.weight;
        let f = w / (sigma + w);
        ndarray::Zip::from(&mut out)
            .and(&v)
            .and(&self.center)
            .for_each(|o, &a, &c| *o = (a - c * sigma) * f);
    }
}
