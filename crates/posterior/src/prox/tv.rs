//! Total variation and its proximal operator by the fast gradient projection (FGP) on the
//! dual problem (A. Beck and M. Teboulle, "Fast gradient-based algorithms for constrained
//! total variation image denoising and deblurring problems", IEEE TIP 18(11), 2009).
//!
//! With the discrete gradient `D` of [`finite_diff`](crate::transforms::finite_diff)
//! (forward differences, Neumann boundary), the isotropic TV of an image `x` (`[H, W]` or
//! `[C, H, W]`, real or complex) is
//! `TV(x) = Σ_pixels sqrt(Σ_c |D_v x_c|² + |D_h x_c|²)` (channels coupled, moduli of complex
//! entries, i.e. real and imaginary parts both enter the norm) and the anisotropic TV is
//! `Σ_c Σ_pixels |D_v x_c| + |D_h x_c|`.
//!
//! The prox `argmin_u ½||u − v||² + λ TV(u) + ι_C(u)` (`λ = τ w`, `C` optional bounds) has
//! the dual `min_{p ∈ P} ||v − λ Dᴴ p||² − ||(I − P_C)(v − λ Dᴴ p)||²` over
//! `P = {||p_pixel|| ≤ 1}` (per component for the anisotropic TV), with primal
//! `u = P_C(v + λ div p)`. The dual gradient is `−2λ D u`, Lipschitz with constant
//! `2λ²||D||² ≤ 16λ²`, so FGP iterates `p ← P_P(r + D u(r) / (8λ))` with Nesterov
//! extrapolation of `r`. Each iteration is two fused passes over the image and allocates
//! nothing.

use std::sync::Mutex;

use ndarray::{ArrayViewD, ArrayViewMutD};

use super::util::{contiguous, with_contiguous_out};
use super::{Functional, Prox};
use crate::ops::planes;
use crate::scalar::Scalar;
use crate::transforms::finite_diff::{DiffBoundary, div_plane_b, grad_plane_b};

/// `w TV(x) + ι_C(x)`: weighted total variation (isotropic or anisotropic, see the module
/// docs) with optional bounds `C = {lower ≤ x ≤ upper}`.
///
/// The prox is computed by FGP on the dual (see the module docs), stopping after
/// `max_iters` iterations or when the relative change of the primal iterate
/// `||u_k − u_{k−1}|| / ||u_k||` falls below `tol`. With `warm_start`, the dual field of the
/// previous call (same shape) starts the next one, which pays inside outer solvers whose
/// successive prox inputs are close.
///
/// Bounds on complex images mean the set `{Im x = 0, lower ≤ Re x ≤ upper}` (real-valued
/// bounded images); its projection clamps the real part and drops the imaginary part.
#[derive(Debug)]
pub struct TotalVariation {
    /// The weight `w ≥ 0`.
    pub weight: f32,
    /// Isotropic (`true`, pixel-wise Euclidean norm of the gradient over components and
    /// channels) or anisotropic (`false`, `ℓ1` norm of the gradient).
    pub isotropic: bool,
    /// Optional bounds `(lower, upper)`, e.g. `(0, ∞)` for nonnegativity.
    pub bounds: Option<(f32, f32)>,
    /// Maximum number of FGP iterations per prox.
    pub max_iters: usize,
    /// Relative change of the primal iterate below which FGP stops.
    pub tol: f32,
    /// Whether to start from the previous call's dual field.
    pub warm_start: bool,
    /// Boundary of the finite differences (Neumann by default; periodic wraps around).
    pub boundary: DiffBoundary,
    /// The stored dual field for warm starts (`(p_v, p_h)` planes per channel, as
    /// `(re, im)` pairs so that one store serves real and complex images).
    dual: Mutex<Vec<(f32, f32)>>,
}

impl Clone for TotalVariation {
    fn clone(&self) -> Self {
        TotalVariation {
            weight: self.weight,
            isotropic: self.isotropic,
            bounds: self.bounds,
            max_iters: self.max_iters,
            tol: self.tol,
            warm_start: self.warm_start,
            boundary: self.boundary,
            dual: Mutex::new(Vec::new()),
        }
    }
}

impl TotalVariation {
    /// Isotropic TV with weight `w`, no bounds, at most 100 FGP iterations, `tol = 1e-5`,
    /// no warm start.
    pub fn new(weight: f32) -> Self {
        TotalVariation {
            weight,
            isotropic: true,
            bounds: None,
            max_iters: 100,
            tol: 1e-5,
            warm_start: false,
            boundary: DiffBoundary::Neumann,
            dual: Mutex::new(Vec::new()),
        }
    }

    /// Anisotropic (`ℓ1`) TV instead of isotropic.
    pub fn anisotropic(mut self) -> Self {
        self.isotropic = false;
        self
    }

    /// Add the constraint `x ≥ 0`.
    pub fn nonneg(mut self) -> Self {
        self.bounds = Some((0.0, f32::INFINITY));
        self
    }

    /// Add the constraint `lower ≤ x ≤ upper`.
    pub fn with_bounds(mut self, lower: f32, upper: f32) -> Self {
        assert!(lower <= upper, "TotalVariation: need lower <= upper");
        self.bounds = Some((lower, upper));
        self
    }

    /// Set the iteration limit and stopping tolerance of the inner FGP.
    pub fn with_iters(mut self, max_iters: usize, tol: f32) -> Self {
        self.max_iters = max_iters.max(1);
        self.tol = tol;
        self
    }

    /// Use the given boundary for the finite differences.
    pub fn with_boundary(mut self, boundary: DiffBoundary) -> Self {
        self.boundary = boundary;
        self
    }

    /// Enable or disable warm starts from the previous dual field.
    pub fn with_warm_start(mut self, on: bool) -> Self {
        self.warm_start = on;
        self
    }

    /// `TV(x)` without the weight and without the bound indicator.
    pub fn tv<T: Scalar>(&self, x: ArrayViewD<T>) -> f64 {
        let (c, h, w) = planes(x.shape()).expect("TotalVariation: image shape [H, W] or [C, H, W]");
        let n = h * w;
        let xs = contiguous(&x);
        let mut gv = vec![T::zero(); c * n];
        let mut gh = vec![T::zero(); c * n];
        for ch in 0..c {
            let r = ch * n..(ch + 1) * n;
            grad_plane_b(
                &xs[r.clone()],
                h,
                w,
                &mut gv[r.clone()],
                &mut gh[r],
                self.boundary,
            );
        }
        let mut total = 0.0f64;
        if self.isotropic {
            for k in 0..n {
                let mut s = 0.0f64;
                for ch in 0..c {
                    s += gv[ch * n + k].abs2() as f64 + gh[ch * n + k].abs2() as f64;
                }
                total += s.sqrt();
            }
        } else {
            total = gv.iter().chain(&gh).map(|a| a.abs() as f64).sum();
        }
        total
    }
}

#[inline]
fn project_bounds<T: Scalar>(a: T, bounds: Option<(f32, f32)>) -> T {
    match bounds {
        None => a,
        Some((lo, hi)) => {
            let r = a.re();
            T::from_real(if r < lo {
                lo
            } else if r > hi {
                hi
            } else {
                r
            })
        }
    }
}

impl<T: Scalar> Functional<T> for TotalVariation {
    fn value(&self, x: ArrayViewD<T>) -> f64 {
        if let Some((lo, hi)) = self.bounds
            && !x
                .iter()
                .all(|a| a.re() >= lo && a.re() <= hi && (!T::IS_COMPLEX || a.im() == 0.0))
        {
            return f64::INFINITY;
        }
        self.weight as f64 * self.tv(x)
    }
}

/// Work buffers of one FGP run.
struct Fgp<T> {
    c: usize,
    h: usize,
    w: usize,
    /// dual iterate p_k (planes (p_v, p_h) per channel)
    p: Vec<T>,
    /// extrapolated dual point r_k
    r: Vec<T>,
    /// primal iterate
    u: Vec<T>,
    /// one plane of divergence scratch
    div: Vec<T>,
    /// one row of `r + s D u` per channel and component
    q: Vec<T>,
    /// one row of group-norm factors
    nrm: Vec<f32>,
    /// periodic differences
    periodic: bool,
}

impl<T: Scalar> Fgp<T> {
    /// `u <- P_C(v + λ div q)`; returns `(||u_new − u_old||², ||u_new||²)`.
    fn primal(
        &mut self,
        v: &[T],
        lambda: f32,
        bounds: Option<(f32, f32)>,
        from_p: bool,
    ) -> (f64, f64) {
        let n = self.h * self.w;
        let q = if from_p { &self.p } else { &self.r };
        let (mut dd, mut uu) = (0.0f64, 0.0f64);
        for ch in 0..self.c {
            let qc = &q[2 * ch * n..2 * (ch + 1) * n];
            let b = if self.periodic {
                DiffBoundary::Periodic
            } else {
                DiffBoundary::Neumann
            };
            div_plane_b(&qc[..n], &qc[n..], self.h, self.w, &mut self.div, b);
            let uc = &mut self.u[ch * n..(ch + 1) * n];
            let vc = &v[ch * n..(ch + 1) * n];
            for ((u, &vv), &d) in uc.iter_mut().zip(vc).zip(&self.div) {
                let new = project_bounds(vv + d * lambda, bounds);
                dd += (new - *u).abs2() as f64;
                uu += new.abs2() as f64;
                *u = new;
            }
        }
        (dd, uu)
    }

    /// `p_new = P_P(r + s D u)`, then `r <- p_new + beta (p_new − p)`, `p <- p_new`; one
    /// fused pass over the rows (the row of `q = r + s D u` for every channel is kept in
    /// `self.q` so that the isotropic norm can couple channels).
    fn dual(&mut self, s: f32, beta: f32, isotropic: bool) {
        let (c, h, w) = (self.c, self.h, self.w);
        let n = h * w;
        for i in 0..h {
            let rows = i * w..(i + 1) * w;
            for ch in 0..c {
                let u = &self.u[ch * n..(ch + 1) * n];
                let row = &u[rows.clone()];
                let base = 2 * ch * n;
                let rv = &self.r[base + i * w..base + (i + 1) * w];
                let rh = &self.r[base + n + i * w..base + n + (i + 1) * w];
                let (qv, qh) = self.q[2 * ch * w..2 * (ch + 1) * w].split_at_mut(w);
                if i + 1 < h {
                    let next = &u[(i + 1) * w..(i + 2) * w];
                    for (((q, &r), &a), &b) in qv.iter_mut().zip(rv).zip(row).zip(next) {
                        *q = r + (b - a) * s;
                    }
                } else if self.periodic {
                    let next = &u[..w];
                    for (((q, &r), &a), &b) in qv.iter_mut().zip(rv).zip(row).zip(next) {
                        *q = r + (b - a) * s;
                    }
                } else {
                    qv.copy_from_slice(rv);
                }
                for ((q, &r), pair) in qh.iter_mut().zip(rh).zip(row.windows(2)) {
                    *q = r + (pair[1] - pair[0]) * s;
                }
                qh[w - 1] = if self.periodic {
                    rh[w - 1] + (row[0] - row[w - 1]) * s
                } else {
                    rh[w - 1]
                };
            }
            if isotropic {
                self.nrm.fill(0.0);
                for q in self.q.chunks_exact(w) {
                    for (m, &a) in self.nrm.iter_mut().zip(q) {
                        *m += a.abs2();
                    }
                }
                for m in self.nrm.iter_mut() {
                    *m = if *m > 1.0 { 1.0 / m.sqrt() } else { 1.0 };
                }
                for q in self.q.chunks_exact_mut(w) {
                    for (a, &f) in q.iter_mut().zip(&self.nrm) {
                        *a = *a * f;
                    }
                }
            } else {
                for a in self.q.iter_mut() {
                    *a = clip_unit(*a);
                }
            }
            for ch in 0..c {
                for comp in 0..2 {
                    let off = (2 * ch + comp) * n + i * w;
                    let q = &self.q[(2 * ch + comp) * w..(2 * ch + comp + 1) * w];
                    let p = &mut self.p[off..off + w];
                    let r = &mut self.r[off..off + w];
                    for ((p, r), &pnew) in p.iter_mut().zip(r.iter_mut()).zip(q) {
                        *r = pnew + (pnew - *p) * beta;
                        *p = pnew;
                    }
                }
            }
        }
    }
}

#[inline]
fn clip_unit<T: Scalar>(q: T) -> T {
    let m2 = q.abs2();
    if m2 > 1.0 { q * (1.0 / m2.sqrt()) } else { q }
}

impl<T: Scalar> Prox<T> for TotalVariation {
    fn prox_into(&self, v: ArrayViewD<T>, tau: f32, out: ArrayViewMutD<T>) {
        assert_eq!(v.shape(), out.shape(), "TotalVariation: shape mismatch");
        let (c, h, w) = planes(v.shape()).expect("TotalVariation: image shape [H, W] or [C, H, W]");
        let n = h * w;
        let lambda = tau * self.weight;
        let vs = contiguous(&v);
        if lambda <= 0.0 {
            with_contiguous_out(out, |os| {
                for (o, &a) in os.iter_mut().zip(vs.iter()) {
                    *o = project_bounds(a, self.bounds);
                }
            });
            return;
        }
        let mut fgp = Fgp {
            c,
            h,
            w,
            p: vec![T::zero(); 2 * c * n],
            r: vec![T::zero(); 2 * c * n],
            u: vec![T::zero(); c * n],
            div: vec![T::zero(); n],
            q: vec![T::zero(); 2 * c * w],
            nrm: vec![0.0; w],
            periodic: self.boundary == DiffBoundary::Periodic,
        };
        if self.warm_start {
            let stored = self.dual.lock().expect("TV warm-start lock");
            if stored.len() == fgp.p.len() {
                for ((p, r), &(re, im)) in fgp.p.iter_mut().zip(fgp.r.iter_mut()).zip(stored.iter())
                {
                    *p = T::from_parts(re, im);
                    *r = *p;
                }
            }
        }
        let s = 1.0 / (8.0 * lambda);
        let mut t = 1.0f32;
        fgp.primal(&vs, lambda, self.bounds, false);
        for _ in 0..self.max_iters {
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let beta = (t - 1.0) / t_next;
            fgp.dual(s, beta, self.isotropic);
            t = t_next;
            let (dd, uu) = fgp.primal(&vs, lambda, self.bounds, false);
            if dd <= (self.tol as f64).powi(2) * uu.max(1e-30) {
                break;
            }
        }
        // the output is the primal point of the last (non-extrapolated) dual iterate
        fgp.primal(&vs, lambda, self.bounds, true);
        if self.warm_start {
            let mut stored = self.dual.lock().expect("TV warm-start lock");
            stored.clear();
            stored.extend(fgp.p.iter().map(|a| (a.re(), a.im())));
        }
        with_contiguous_out(out, |os| os.copy_from_slice(&fgp.u));
    }
}
