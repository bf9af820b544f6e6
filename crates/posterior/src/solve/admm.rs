//! ADMM, the alternating direction method of multipliers, for
//! `min_x ½‖A x − y‖² + g(K x)`, and linearized ADMM for `min_x f(x) + g(K x)`.

use ndarray::{ArrayD, ArrayViewD, Zip};

use super::driver::{Convergence, Iterative, StepInfo};
use super::quadratic::{RegOp, ShiftedNormal, SolveMode};
use super::{check_finite, norm_sq, rel, sl, standard, zeros};
use crate::error::{Error, Result};
use crate::ops::counted::{Counted, OpCounts};
use crate::ops::{LinearOperator, norm_estimate};
use crate::prox::{Functional, Prox};
use crate::scalar::Scalar;

/// Parameters of [`Admm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmmParams {
    /// Initial penalty `ρ > 0` (default 1).
    pub rho: f64,
    /// Residual balancing (Boyd et al. 2011, §3.4.1): multiply `ρ` by `tau_incr` when the
    /// primal residual exceeds `mu` times the dual one, divide by `tau_incr` in the
    /// opposite case; checked every 10 iterations during the first `adapt_until`
    /// iterations (default 0: fixed `ρ`), after which `ρ` stays fixed so that the usual
    /// convergence guarantee applies.
    pub adapt_until: usize,
    /// Imbalance factor `μ` of the residual balancing (default 10).
    pub mu: f64,
    /// Factor `τ` by which `ρ` changes (default 2).
    pub tau_incr: f64,
    /// Over-relaxation `α ∈ (0, 2)` (default 1: plain ADMM; 1.5–1.8 often faster).
    pub alpha: f64,
    /// Absolute tolerance of the residual test (default 0).
    pub eps_abs: f64,
    /// Relative tolerance of the residual test (default `1e-4`; with `eps_abs = 0`, 0
    /// disables the method's own test).
    pub eps_rel: f64,
    /// Conjugate-gradient iterations per x-update when it is not exact (default 20).
    pub cg_iters: usize,
    /// Relative tolerance of those inner solves (default `1e-5`).
    pub cg_tol: f64,
}

impl Default for AdmmParams {
    fn default() -> Self {
        AdmmParams {
            rho: 1.0,
            adapt_until: 0,
            mu: 10.0,
            tau_incr: 2.0,
            alpha: 1.0,
            eps_abs: 0.0,
            eps_rel: 1e-4,
            cg_iters: 20,
            cg_tol: 1e-5,
        }
    }
}

impl AdmmParams {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("rho", self.rho),
            ("mu", self.mu - 1.0),
            ("tau_incr", self.tau_incr - 1.0),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(
                    name,
                    "must be finite and > 0 (mu, tau_incr > 1)",
                ));
            }
        }
        if !(self.alpha > 0.0 && self.alpha < 2.0) {
            return Err(Error::param(
                "alpha",
                format!("over-relaxation must lie in (0, 2), got {}", self.alpha),
            ));
        }
        for (name, v) in [("eps_abs", self.eps_abs), ("eps_rel", self.eps_rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(
                    name,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// ADMM in scaled form (S. Boyd, N. Parikh, E. Chu, B. Peleato and J. Eckstein,
/// "Distributed optimization and statistical learning via the alternating direction method
/// of multipliers", Found. Trends Mach. Learn. 3(1), 2011) for
/// `min_x ½‖A x − y‖² + g(K x)` split as `z = K x`:
/// ```text
/// x_{k+1} = (AᴴA + ρ KᴴK)⁻¹ (Aᴴy + ρ Kᴴ(z_k − u_k))
/// w       = α K x_{k+1} + (1 − α) z_k                  (over-relaxation)
/// z_{k+1} = prox_{g/ρ}(w + u_k)
/// u_{k+1} = u_k + w − z_{k+1}
/// ```
/// The x-update is exact where the Gram operators allow it (see
/// [`ShiftedNormal`]: circular blur, MRI, denoising, inpainting with `K = I` or an
/// orthonormal transform; periodic differences with FFT-diagonal `A`), else it runs
/// warm-started conjugate gradients.
///
/// Stopping (Boyd et al. §3.3.1): primal residual `r = K x − z`, dual residual
/// `s = ρ Kᴴ(z_k − z_{k+1})`, converged when `‖r‖ ≤ √p ε_abs + ε_rel max(‖Kx‖, ‖z‖)` and
/// `‖s‖ ≤ √n ε_abs + ε_rel ‖ρ Kᴴ u‖`. `rel_normal_residual` reports `‖s‖/‖s_1‖`, the
/// objective `½‖Ax − y‖² + g(Kx)` is reported when `g`'s value is supplied
/// ([`Admm::with_objective`]; one extra `A` per iteration).
pub struct Admm<'a, O: LinearOperator> {
    a: &'a Counted<&'a O>,
    y: ArrayViewD<'a, O::Range>,
    k: Counted<RegOp<'a, O::Domain>>,
    g: &'a dyn Prox<O::Domain>,
    g_value: Option<&'a dyn Functional<O::Domain>>,
    solver: ShiftedNormal<'a, Counted<&'a O>>,
    params: AdmmParams,
    rho: f64,
    aty: ArrayD<O::Domain>,
    x: ArrayD<O::Domain>,
    x_prev: ArrayD<O::Domain>,
    z: ArrayD<O::Domain>,
    u: ArrayD<O::Domain>,
    kx: ArrayD<O::Domain>,
    w: ArrayD<O::Domain>,
    ktz: ArrayD<O::Domain>,
    ktz_prev: ArrayD<O::Domain>,
    ktu: ArrayD<O::Domain>,
    rhs: ArrayD<O::Domain>,
    s0: Option<f64>,
    iteration: usize,
    residuals: (f64, f64),
}

impl<'a, O: LinearOperator> Admm<'a, O> {
    /// Set up from `x_0` with `z_0 = K x_0`, `u_0 = 0`. `a` is the counted forward operator
    /// (create it with `Counted::new(&op)`; it is borrowed so the caller can read its
    /// counts), `k` the split operator (`None`: identity).
    pub fn new(
        a: &'a Counted<&'a O>,
        y: ArrayViewD<'a, O::Range>,
        k: RegOp<'a, O::Domain>,
        g: &'a dyn Prox<O::Domain>,
        x0: ArrayViewD<O::Domain>,
        params: AdmmParams,
    ) -> Result<Self> {
        params.validate()?;
        a.check_range(y.shape(), "admm measurements")?;
        a.check_domain(x0.shape(), "admm initial x0")?;
        crate::ops::check_shape(a.domain_shape(), k.domain_shape(), "admm: K vs A")?;
        check_finite(x0.view(), "admm initial x0")?;
        check_finite(y.view(), "admm measurements")?;
        let solver = ShiftedNormal::new(a, Some(k))?.with_cg(params.cg_iters, params.cg_tol);
        let k = Counted::new(k);
        let x = standard(x0);
        let kx = k.apply(x.view());
        let aty = a.adjoint(y.view());
        let ktz = k.adjoint(kx.view());
        Ok(Admm {
            g,
            g_value: None,
            rho: params.rho,
            params,
            x_prev: x.clone(),
            z: kx.clone(),
            u: zeros(k.range_shape()),
            w: zeros(k.range_shape()),
            ktz_prev: ktz.clone(),
            ktu: zeros(a.domain_shape()),
            rhs: zeros(a.domain_shape()),
            ktz,
            kx,
            x,
            aty,
            solver,
            a,
            y,
            k,
            s0: None,
            iteration: 0,
            residuals: (f64::INFINITY, f64::INFINITY),
        })
    }

    /// Report the objective `½‖A x − y‖² + g(K x)` from the value of `g`.
    pub fn with_objective(mut self, g: &'a dyn Functional<O::Domain>) -> Self {
        self.g_value = Some(g);
        self
    }

    /// The current penalty `ρ`.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// Whether the x-update is exact (`true`) or by conjugate gradients.
    pub fn exact_x_update(&self) -> bool {
        self.solver.mode() == SolveMode::Exact
    }

    /// The split variable `z ≈ K x`.
    pub fn split(&self) -> ArrayViewD<'_, O::Domain> {
        self.z.view()
    }

    /// The last primal and dual residual norms `(‖r‖, ‖s‖)`.
    pub fn residuals(&self) -> (f64, f64) {
        self.residuals
    }
}

impl<O: LinearOperator> Iterative for Admm<'_, O> {
    type Elem = O::Domain;

    fn name(&self) -> &'static str {
        "admm"
    }

    fn step(&mut self) -> Result<StepInfo> {
        self.iteration += 1;
        let rho = self.rho as f32;
        // x-update: rhs = Aᴴy + ρ Kᴴ(z − u).
        Zip::from(&mut self.rhs)
            .and(&self.aty)
            .and(&self.ktz)
            .and(&self.ktu)
            .for_each(|r, &b, &tz, &tu| *r = b + (tz - tu) * rho);
        std::mem::swap(&mut self.x, &mut self.x_prev);
        self.solver
            .solve_into(self.rhs.view(), rho, self.x.view_mut())?;
        self.k.apply_into(self.x.view(), self.kx.view_mut());
        // z-update with over-relaxation.
        let al = self.params.alpha as f32;
        Zip::from(&mut self.w)
            .and(&self.kx)
            .and(&self.z)
            .and(&self.u)
            .for_each(|w, &kx, &z, &u| *w = kx * al + z * (1.0 - al) + u);
        self.g
            .prox_into(self.w.view(), 1.0 / rho, self.z.view_mut());
        // u-update: u + (w − u) − z = w − z.
        Zip::from(&mut self.u)
            .and(&self.w)
            .and(&self.z)
            .for_each(|u, &w, &z| *u = w - z);
        std::mem::swap(&mut self.ktz, &mut self.ktz_prev);
        self.k.adjoint_into(self.z.view(), self.ktz.view_mut());
        self.k.adjoint_into(self.u.view(), self.ktu.view_mut());
        // Residuals.
        let mut rr = 0.0f64;
        Zip::from(&self.kx)
            .and(&self.z)
            .for_each(|&a, &b| rr += (a - b).abs2() as f64);
        let mut ss = 0.0f64;
        let mut change = 0.0f64;
        Zip::from(&self.ktz)
            .and(&self.ktz_prev)
            .and(&self.x)
            .and(&self.x_prev)
            .for_each(|&a, &b, &x, &xp| {
                ss += (a - b).abs2() as f64;
                change += (x - xp).abs2() as f64;
            });
        let (r, s) = (rr.sqrt(), self.rho * ss.sqrt());
        self.residuals = (r, s);
        let s0 = *self.s0.get_or_insert(s);
        let (p, n) = (self.kx.len() as f64, self.x.len() as f64);
        let eps_pri = p.sqrt() * self.params.eps_abs
            + self.params.eps_rel
                * norm_sq(sl(&self.kx))
                    .sqrt()
                    .max(norm_sq(sl(&self.z)).sqrt());
        let eps_dual = n.sqrt() * self.params.eps_abs
            + self.params.eps_rel * self.rho * norm_sq(sl(&self.ktu)).sqrt();
        let enabled = self.params.eps_abs > 0.0 || self.params.eps_rel > 0.0;
        let converged = (enabled && r <= eps_pri && s <= eps_dual).then(|| Convergence {
            criterion: "admm primal/dual residuals",
            value: rel(r, eps_pri).max(rel(s, eps_dual)),
            threshold: 1.0,
        });
        let objective = match self.g_value {
            Some(g) => {
                let ax = self.a.apply(self.x.view());
                let mut d = 0.0f64;
                Zip::from(&ax)
                    .and(&self.y)
                    .for_each(|&a, &b| d += (a - b).abs2() as f64);
                Some(0.5 * d + g.value(self.kx.view()))
            }
            None => None,
        };
        // Residual balancing (the scaled dual u = y/ρ is rescaled with ρ).
        if self.iteration <= self.params.adapt_until
            && self.iteration % 10 == 0
            && converged.is_none()
        {
            let factor = if r > self.params.mu * s {
                self.params.tau_incr
            } else if s > self.params.mu * r {
                1.0 / self.params.tau_incr
            } else {
                1.0
            };
            if factor != 1.0 {
                self.rho *= factor;
                let inv = (1.0 / factor) as f32;
                self.u.mapv_inplace(|v| v * inv);
                self.ktu.mapv_inplace(|v| v * inv);
            }
        }
        Ok(StepInfo {
            objective,
            rel_residual: None,
            rel_normal_residual: Some(rel(s, s0)),
            rel_change: Some(rel(change.sqrt(), norm_sq(sl(&self.x)).sqrt())),
            converged,
        })
    }

    fn current(&self) -> ArrayViewD<'_, O::Domain> {
        self.x.view()
    }

    fn counts(&self) -> OpCounts {
        self.a.counts()
    }
}

/// Parameters of [`LinearizedAdmm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearizedAdmmParams {
    /// `λ > 0`, the step of the z-update (default 1).
    pub lambda: f64,
    /// `μ`, the step of the x-update; must satisfy `0 < μ ≤ λ/‖K‖²`. `None` (default):
    /// `0.99 λ/‖K‖²` with `‖K‖` estimated by power iteration (enlarged by 1%).
    pub mu: Option<f64>,
    /// Absolute and relative tolerances of the residual test (as [`AdmmParams`]).
    pub eps_abs: f64,
    /// Relative tolerance (default `1e-4`).
    pub eps_rel: f64,
    /// Power iterations for `‖K‖` (default 100).
    pub norm_iters: usize,
}

impl Default for LinearizedAdmmParams {
    fn default() -> Self {
        LinearizedAdmmParams {
            lambda: 1.0,
            mu: None,
            eps_abs: 0.0,
            eps_rel: 1e-4,
            norm_iters: 100,
        }
    }
}

/// Linearized ADMM (N. Parikh and S. Boyd, "Proximal algorithms", Found. Trends Optim.
/// 1(3), 2014, §4.4.2) for `min_x f(x) + g(K x)` with `f`, `g` prox-friendly:
/// ```text
/// x_{k+1} = prox_{μ f}(x_k − (μ/λ) Kᴴ(K x_k − z_k + u_k))
/// z_{k+1} = prox_{λ g}(K x_{k+1} + u_k)
/// u_{k+1} = u_k + K x_{k+1} − z_{k+1}
/// ```
/// converging for `0 < μ ≤ λ/‖K‖²`. No linear system is solved: one `K` and one `Kᴴ` per
/// iteration. Stopping as [`Admm`] with `ρ = 1/λ`.
pub struct LinearizedAdmm<'a, O: LinearOperator> {
    k: Counted<&'a O>,
    f: &'a dyn Prox<O::Domain>,
    g: &'a dyn Prox<O::Range>,
    values: Option<super::pdhg::Values<'a, O>>,
    lambda: f64,
    mu: f64,
    eps_abs: f64,
    eps_rel: f64,
    x: ArrayD<O::Domain>,
    x_prev: ArrayD<O::Domain>,
    v: ArrayD<O::Domain>,
    kx: ArrayD<O::Range>,
    z: ArrayD<O::Range>,
    z_prev: ArrayD<O::Range>,
    u: ArrayD<O::Range>,
    t: ArrayD<O::Range>,
    dz: ArrayD<O::Domain>,
    s0: Option<f64>,
}

impl<'a, O: LinearOperator> LinearizedAdmm<'a, O> {
    /// Set up from `x_0` with `z_0 = K x_0`, `u_0 = 0`.
    pub fn new(
        k: &'a O,
        f: &'a dyn Prox<O::Domain>,
        g: &'a dyn Prox<O::Range>,
        x0: ArrayViewD<O::Domain>,
        params: LinearizedAdmmParams,
    ) -> Result<Self> {
        k.check_domain(x0.shape(), "linearized admm initial x0")?;
        check_finite(x0.view(), "linearized admm initial x0")?;
        if !(params.lambda.is_finite() && params.lambda > 0.0) {
            return Err(Error::param("lambda", "must be finite and > 0"));
        }
        let k = Counted::new(k);
        let mu = match params.mu {
            Some(m) => m,
            None => {
                let n = 1.01 * norm_estimate(&k, params.norm_iters, 0);
                if !(n > 0.0 && n.is_finite()) {
                    return Err(Error::param(
                        "mu",
                        format!("cannot derive the step from ||K|| = {n}; give mu"),
                    ));
                }
                0.99 * params.lambda / (n * n)
            }
        };
        if !(mu.is_finite() && mu > 0.0) {
            return Err(Error::param(
                "mu",
                format!("must be finite and > 0, got {mu}"),
            ));
        }
        let x = standard(x0);
        let kx = k.apply(x.view());
        Ok(LinearizedAdmm {
            f,
            g,
            values: None,
            lambda: params.lambda,
            mu,
            eps_abs: params.eps_abs,
            eps_rel: params.eps_rel,
            x_prev: x.clone(),
            v: zeros(k.domain_shape()),
            z: kx.clone(),
            z_prev: kx.clone(),
            u: zeros(k.range_shape()),
            t: zeros(k.range_shape()),
            dz: zeros(k.domain_shape()),
            kx,
            x,
            k,
            s0: None,
        })
    }

    /// Report the objective `f(x) + g(K x)` from the values of `f` and `g`.
    pub fn with_objective(
        mut self,
        f: &'a dyn Functional<O::Domain>,
        g: &'a dyn Functional<O::Range>,
    ) -> Self {
        self.values = Some((f, g));
        self
    }

    /// The steps `(λ, μ)`.
    pub fn steps(&self) -> (f64, f64) {
        (self.lambda, self.mu)
    }
}

impl<O: LinearOperator> Iterative for LinearizedAdmm<'_, O> {
    type Elem = O::Domain;

    fn name(&self) -> &'static str {
        "linearized-admm"
    }

    fn step(&mut self) -> Result<StepInfo> {
        let (lambda, mu) = (self.lambda as f32, self.mu as f32);
        // t = K x − z + u; v = x − (μ/λ) Kᴴ t.
        Zip::from(&mut self.t)
            .and(&self.kx)
            .and(&self.z)
            .and(&self.u)
            .for_each(|t, &kx, &z, &u| *t = kx - z + u);
        self.k.adjoint_into(self.t.view(), self.v.view_mut());
        let c = mu / lambda;
        Zip::from(&mut self.v)
            .and(&self.x)
            .for_each(|v, &x| *v = x - *v * c);
        std::mem::swap(&mut self.x, &mut self.x_prev);
        self.f.prox_into(self.v.view(), mu, self.x.view_mut());
        self.k.apply_into(self.x.view(), self.kx.view_mut());
        // z = prox_{λg}(K x + u); u += K x − z.
        Zip::from(&mut self.t)
            .and(&self.kx)
            .and(&self.u)
            .for_each(|t, &kx, &u| *t = kx + u);
        std::mem::swap(&mut self.z, &mut self.z_prev);
        self.g.prox_into(self.t.view(), lambda, self.z.view_mut());
        let mut rr = 0.0f64;
        Zip::from(&mut self.u)
            .and(&self.kx)
            .and(&self.z)
            .for_each(|u, &kx, &z| {
                let r = kx - z;
                rr += r.abs2() as f64;
                *u += r;
            });
        // Dual residual (1/λ) Kᴴ(z_prev − z).
        Zip::from(&mut self.t)
            .and(&self.z_prev)
            .and(&self.z)
            .for_each(|t, &a, &b| *t = a - b);
        self.k.adjoint_into(self.t.view(), self.dz.view_mut());
        let r = rr.sqrt();
        let s = norm_sq(sl(&self.dz)).sqrt() / self.lambda;
        let s0 = *self.s0.get_or_insert(s);
        let mut change = 0.0f64;
        Zip::from(&self.x)
            .and(&self.x_prev)
            .for_each(|&a, &b| change += (a - b).abs2() as f64);
        let (p, n) = (self.kx.len() as f64, self.x.len() as f64);
        let eps_pri = p.sqrt() * self.eps_abs
            + self.eps_rel
                * norm_sq(sl(&self.kx))
                    .sqrt()
                    .max(norm_sq(sl(&self.z)).sqrt());
        // ‖Kᴴ u‖/λ, computed from the scaled dual through one more adjoint only when the
        // test is enabled.
        let enabled = self.eps_abs > 0.0 || self.eps_rel > 0.0;
        let converged = if enabled && r <= eps_pri {
            self.k.adjoint_into(self.u.view(), self.dz.view_mut());
            let eps_dual =
                n.sqrt() * self.eps_abs + self.eps_rel * norm_sq(sl(&self.dz)).sqrt() / self.lambda;
            (s <= eps_dual).then(|| Convergence {
                criterion: "linearized admm primal/dual residuals",
                value: rel(r, eps_pri).max(rel(s, eps_dual)),
                threshold: 1.0,
            })
        } else {
            None
        };
        let objective = self
            .values
            .map(|(f, g)| f.value(self.x.view()) + g.value(self.kx.view()));
        Ok(StepInfo {
            objective,
            rel_residual: None,
            rel_normal_residual: Some(rel(s, s0)),
            rel_change: Some(rel(change.sqrt(), norm_sq(sl(&self.x)).sqrt())),
            converged,
        })
    }

    fn current(&self) -> ArrayViewD<'_, O::Domain> {
        self.x.view()
    }

    fn counts(&self) -> OpCounts {
        self.k.counts()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fista::test_problems::*;
    use super::super::testing::*;
    use super::super::{Driver, Termination};
    use super::*;
    use crate::ops::Identity;
    use crate::prox::{L1 as ProxL1, SquaredL2};

    /// Tikhonov `min ½‖Ax − y‖² + (λ/2)‖x‖²` through ADMM with `K = I`, `g = (λ/2)‖·‖²`:
    /// the answer is the solution of the normal equations.
    #[test]
    fn tikhonov_via_admm_matches_normal_equations() {
        let a = DenseMatrix::<f32, f32>::random(30, 12, 3);
        let y = random_array::<f32>(&[30], 4);
        let lambda = 0.7f32;
        let want = reference(&a, &y, lambda as f64);
        let ca = Counted::new(&a);
        let id = Identity::<f32>::new(&[12]);
        let g = SquaredL2 { weight: lambda };
        let x0 = zeros::<f32>(&[12]);
        let p = AdmmParams {
            eps_rel: 1e-7,
            eps_abs: 1e-9,
            cg_iters: 200,
            cg_tol: 1e-10,
            ..AdmmParams::default()
        };
        let mut s = Admm::new(&ca, y.view(), &id, &g, x0.view(), p).unwrap();
        assert!(!s.exact_x_update(), "a dense matrix has no Gram structure");
        let r = Driver::new(5000).run(&mut s).unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        let got = real_coords(&r.x);
        assert!(rel_err(&got, &want) < 1e-4, "{}", rel_err(&got, &want));
    }

    #[test]
    fn lasso_via_admm_meets_optimality_with_adaptation_and_relaxation() {
        let (a, y, lambda) = lasso(11);
        let ca = Counted::new(&a);
        let id = Identity::<f32>::new(&[20]);
        let g = ProxL1 { weight: lambda };
        let x0 = zeros::<f32>(&[20]);
        for (alpha, adapt) in [(1.0, 0), (1.6, 200)] {
            let p = AdmmParams {
                rho: 0.05,
                alpha,
                adapt_until: adapt,
                eps_rel: 1e-7,
                eps_abs: 1e-9,
                cg_iters: 200,
                cg_tol: 1e-10,
                ..AdmmParams::default()
            };
            let mut s = Admm::new(&ca, y.view(), &id, &g, x0.view(), p)
                .unwrap()
                .with_objective(&g);
            let r = Driver::new(20000).run(&mut s).unwrap();
            assert!(
                matches!(r.termination, Termination::Converged(_)),
                "{}",
                r.summary()
            );
            // x is the minimizer up to the tolerance; z = x exactly sparse, so the KKT sign
            // conditions are checked on z.
            let z = s.split().to_owned();
            let dx = (&z - &r.x).iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(dx < 1e-4, "x and z differ by {dx}");
            let kkt = lasso_kkt(&a, &y, lambda, &z);
            assert!(kkt < 1e-3, "alpha {alpha}: kkt {kkt:.2e} ({})", r.summary());
            if adapt > 0 {
                assert_ne!(s.rho(), 0.05, "residual balancing should have moved rho");
            }
        }
    }

    #[test]
    fn lasso_via_linearized_admm_meets_optimality() {
        let (a, y, lambda) = lasso(13);
        // f = λ‖x‖₁, g = ½‖· − y‖², K = A.
        let f = L1(lambda);
        let g = Fit(y.clone());
        let x0 = zeros::<f32>(&[20]);
        let p = LinearizedAdmmParams {
            lambda: 1.0,
            eps_rel: 1e-7,
            eps_abs: 1e-9,
            ..LinearizedAdmmParams::default()
        };
        let mut s = LinearizedAdmm::new(&a, &f, &g, x0.view(), p)
            .unwrap()
            .with_objective(&f, &g);
        let (l, mu) = s.steps();
        let nk = norm_estimate(&a, 500, 3);
        assert!(mu <= l / (nk * nk));
        let r = Driver::new(50000).run(&mut s).unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        let kkt = lasso_kkt(&a, &y, lambda, &r.x);
        assert!(kkt < 1e-3, "kkt {kkt:.2e} ({})", r.summary());
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let a = DenseMatrix::<f32, f32>::random(5, 3, 1);
        let ca = Counted::new(&a);
        let y = zeros::<f32>(&[5]);
        let id = Identity::<f32>::new(&[3]);
        let g = ProxL1 { weight: 0.1 };
        let x0 = zeros::<f32>(&[3]);
        for bad in [
            AdmmParams {
                rho: 0.0,
                ..Default::default()
            },
            AdmmParams {
                alpha: 2.0,
                ..Default::default()
            },
            AdmmParams {
                eps_rel: f64::NAN,
                ..Default::default()
            },
        ] {
            assert!(Admm::new(&ca, y.view(), &id, &g, x0.view(), bad).is_err());
        }
        let y_bad = zeros::<f32>(&[4]);
        assert!(Admm::new(&ca, y_bad.view(), &id, &g, x0.view(), AdmmParams::default()).is_err());
    }
}
