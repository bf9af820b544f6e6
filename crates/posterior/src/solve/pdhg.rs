//! PDHG: the primal–dual hybrid gradient method of Chambolle & Pock.

use ndarray::{ArrayD, ArrayViewD, Zip};

use super::driver::{Convergence, Iterative, StepInfo};
use super::{check_finite, norm_sq, rel, sl, standard, zeros};
use crate::error::{Error, Result};
use crate::ops::counted::{Counted, OpCounts};
use crate::ops::{LinearOperator, norm_estimate};
use crate::prox::{Functional, Prox};
use crate::scalar::Scalar;

/// The values of `f` and `g` for the objective.
pub(crate) type Values<'a, O> = (
    &'a dyn Functional<<O as LinearOperator>::Domain>,
    &'a dyn Functional<<O as LinearOperator>::Range>,
);

/// Parameters of [`Pdhg`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PdhgParams {
    /// Primal step `τ`. `None` (default): `τ = 0.99/‖K‖` (or `0.99/(σ‖K‖²)` when `σ` is
    /// given), with `‖K‖` from [`norm_estimate`] enlarged by 1% for safety.
    pub tau: Option<f64>,
    /// Dual step `σ`. `None` (default): `σ = 0.99/(τ‖K‖²)`.
    pub sigma: Option<f64>,
    /// Over-relaxation `θ ∈ [0, 1]` (default 1, the convergent choice of the paper).
    pub theta: f64,
    /// Absolute tolerance of the residual test (default 0).
    pub eps_abs: f64,
    /// Relative tolerance of the residual test (default `1e-4`; 0 with `eps_abs = 0`
    /// disables the method's own test).
    pub eps_rel: f64,
    /// Power iterations for `‖K‖` (default 100).
    pub norm_iters: usize,
    /// Seed of the power iteration (default 0).
    pub seed: u64,
}

impl Default for PdhgParams {
    fn default() -> Self {
        PdhgParams {
            tau: None,
            sigma: None,
            theta: 1.0,
            eps_abs: 0.0,
            eps_rel: 1e-4,
            norm_iters: 100,
            seed: 0,
        }
    }
}

/// Chambolle & Pock's primal–dual hybrid gradient for `min_x f(x) + g(K x)` with `f`, `g`
/// proper closed convex with proximal operators and `K` linear, i.e. the saddle point of
/// `f(x) + <K x, y> − g*(y)`:
/// ```text
/// x_{k+1} = prox_{τ f}(x_k − τ K^H y_k)
/// x̄       = x_{k+1} + θ (x_{k+1} − x_k)
/// y_{k+1} = prox_{σ g*}(y_k + σ K x̄)
/// ```
/// converging for `θ = 1` and `τ σ ‖K‖² < 1` (derived from the estimated norm when a step
/// is missing; when both are given, the condition is the caller's to check).
/// `prox_{σ g*}` is [`Prox::prox_conj_into`]. One `K` and one `K^H`
/// per iteration (`K x̄` is formed from the stored `K x_k`, `K x_{k+1}`).
///
/// Stopping (Goldstein, Li, Yuan, Esser & Baraniuk 2015): the primal and dual residuals
/// `p = (x_k − x_{k+1})/τ − K^H(y_k − y_{k+1})` and `d = (y_k − y_{k+1})/σ −
/// θ K(x_k − x_{k+1})` (elements of `∂f(x_{k+1}) + K^H y_{k+1}` and
/// `∂g*(y_{k+1}) − K x_{k+1}`, zero exactly at a saddle point) must satisfy
/// `‖p‖ <= √n ε_abs + ε_rel ‖K^H y_{k+1}‖` and `‖d‖ <= √m ε_abs + ε_rel ‖K x_{k+1}‖`.
/// `rel_normal_residual` reports `‖p‖/‖p_1‖`, `rel_change` `‖x_{k+1} − x_k‖/‖x_{k+1}‖`, and
/// the objective `f(x) + g(K x)` when values are supplied ([`Pdhg::with_objective`]; put
/// indicator functions in `f`, whose iterates are feasible, since an infinite objective is
/// reported as divergence).
///
/// References: A. Chambolle and T. Pock, J. Math. Imaging Vis. 40 (2011) 120–145;
/// T. Goldstein et al., arXiv:1305.0546 (2015).
pub struct Pdhg<'a, O: LinearOperator> {
    k: Counted<&'a O>,
    f: &'a dyn Prox<O::Domain>,
    g: &'a dyn Prox<O::Range>,
    values: Option<Values<'a, O>>,
    tau: f64,
    sigma: f64,
    theta: f64,
    eps_abs: f64,
    eps_rel: f64,
    x: ArrayD<O::Domain>,
    x_prev: ArrayD<O::Domain>,
    y: ArrayD<O::Range>,
    kx: ArrayD<O::Range>,
    kx_prev: ArrayD<O::Range>,
    kty: ArrayD<O::Domain>,
    kty_prev: ArrayD<O::Domain>,
    v: ArrayD<O::Domain>,
    w: ArrayD<O::Range>,
    p0: Option<f64>,
    residuals: (f64, f64),
}

impl<'a, O: LinearOperator> Pdhg<'a, O> {
    /// Set up from `x_0` (domain of `K`) with dual start `y_0 = 0`.
    pub fn new(
        k: &'a O,
        f: &'a dyn Prox<O::Domain>,
        g: &'a dyn Prox<O::Range>,
        x0: ArrayViewD<O::Domain>,
        params: PdhgParams,
    ) -> Result<Self> {
        k.check_domain(x0.shape(), "pdhg initial x0")?;
        check_finite(x0.view(), "pdhg initial x0")?;
        if !(0.0..=1.0).contains(&params.theta) {
            return Err(Error::param(
                "theta",
                format!("must lie in [0, 1], got {}", params.theta),
            ));
        }
        for (name, v) in [("eps_abs", params.eps_abs), ("eps_rel", params.eps_rel)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(
                    name,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        let k = Counted::new(k);
        let (tau, sigma) = match (params.tau, params.sigma) {
            (Some(t), Some(s)) => (t, s),
            (t, s) => {
                let n = 1.01 * norm_estimate(&k, params.norm_iters, params.seed);
                if !(n > 0.0 && n.is_finite()) {
                    return Err(Error::param(
                        "tau",
                        format!(
                            "cannot derive steps from the estimated ||K|| = {n}; give tau and sigma"
                        ),
                    ));
                }
                match (t, s) {
                    (Some(t), None) => (t, 0.99 / (t * n * n)),
                    (None, Some(s)) => (0.99 / (s * n * n), s),
                    _ => (0.99 / n, 0.99 / n),
                }
            }
        };
        for (name, v) in [("tau", tau), ("sigma", sigma)] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::param(
                    name,
                    format!("must be finite and > 0, got {v}"),
                ));
            }
        }
        let x = standard(x0);
        let kx = k.apply(x.view());
        let y = zeros::<O::Range>(k.range_shape());
        Ok(Pdhg {
            f,
            g,
            values: None,
            tau,
            sigma,
            theta: params.theta,
            eps_abs: params.eps_abs,
            eps_rel: params.eps_rel,
            x_prev: x.clone(),
            kx_prev: kx.clone(),
            kty: zeros(k.domain_shape()),
            kty_prev: zeros(k.domain_shape()),
            v: zeros(k.domain_shape()),
            w: zeros(k.range_shape()),
            x,
            y,
            kx,
            k,
            p0: None,
            residuals: (f64::INFINITY, f64::INFINITY),
        })
    }

    /// Report the objective `f(x_k) + g(K x_k)` from the values of `f` and `g`.
    pub fn with_objective(
        mut self,
        f: &'a dyn Functional<O::Domain>,
        g: &'a dyn Functional<O::Range>,
    ) -> Self {
        self.values = Some((f, g));
        self
    }

    /// The steps `(τ, σ)`.
    pub fn steps(&self) -> (f64, f64) {
        (self.tau, self.sigma)
    }

    /// The dual iterate `y_k`.
    pub fn dual(&self) -> ArrayViewD<'_, O::Range> {
        self.y.view()
    }

    /// The last primal and dual residual norms `(‖p‖, ‖d‖)`.
    pub fn residuals(&self) -> (f64, f64) {
        self.residuals
    }
}

impl<O: LinearOperator> Iterative for Pdhg<'_, O> {
    type Elem = O::Domain;

    fn name(&self) -> &'static str {
        "pdhg"
    }

    fn step(&mut self) -> Result<StepInfo> {
        let (tau, sigma) = (self.tau as f32, self.sigma as f32);
        std::mem::swap(&mut self.x, &mut self.x_prev);
        std::mem::swap(&mut self.kx, &mut self.kx_prev);
        std::mem::swap(&mut self.kty, &mut self.kty_prev);
        // x_{k+1} = prox_{τf}(x_k − τ K^H y_k); kty_prev holds K^H y_k.
        Zip::from(&mut self.v)
            .and(&self.x_prev)
            .and(&self.kty_prev)
            .for_each(|v, &x, &g| *v = x - g * tau);
        self.f.prox_into(self.v.view(), tau, self.x.view_mut());
        self.k.apply_into(self.x.view(), self.kx.view_mut());
        // y_{k+1} = prox_{σg*}(y_k + σ K x̄), K x̄ = (1+θ) K x_{k+1} − θ K x_k.
        let th = self.theta as f32;
        Zip::from(&mut self.w)
            .and(&self.y)
            .and(&self.kx)
            .and(&self.kx_prev)
            .for_each(|w, &y, &a, &b| *w = y + (a * (1.0 + th) - b * th) * sigma);
        let y_prev = std::mem::replace(&mut self.y, zeros(self.k.range_shape()));
        self.g
            .prox_conj_into(self.w.view(), sigma, self.y.view_mut());
        self.k.adjoint_into(self.y.view(), self.kty.view_mut());
        // Residuals.
        let (mut pp, mut change) = (0.0f64, 0.0f64);
        Zip::from(&self.x_prev)
            .and(&self.x)
            .and(&self.kty_prev)
            .and(&self.kty)
            .for_each(|&xp, &x, &gp, &g| {
                let dx = xp - x;
                change += dx.abs2() as f64;
                pp += (dx * (1.0 / tau) - (gp - g)).abs2() as f64;
            });
        let mut dd = 0.0f64;
        Zip::from(&y_prev)
            .and(&self.y)
            .and(&self.kx_prev)
            .and(&self.kx)
            .for_each(|&yp, &y, &ap, &a| {
                dd += ((yp - y) * (1.0 / sigma) - (ap - a) * th).abs2() as f64;
            });
        let (pn, dn) = (pp.sqrt(), dd.sqrt());
        self.residuals = (pn, dn);
        let p0 = *self.p0.get_or_insert(pn);
        let xx = norm_sq(sl(&self.x));
        let n = self.x.len() as f64;
        let m = self.y.len() as f64;
        let eps_p = n.sqrt() * self.eps_abs + self.eps_rel * norm_sq(sl(&self.kty)).sqrt();
        let eps_d = m.sqrt() * self.eps_abs + self.eps_rel * norm_sq(sl(&self.kx)).sqrt();
        let enabled = self.eps_abs > 0.0 || self.eps_rel > 0.0;
        let converged = (enabled && pn <= eps_p && dn <= eps_d).then(|| Convergence {
            criterion: "pdhg primal/dual residuals",
            value: (rel(pn, eps_p)).max(rel(dn, eps_d)),
            threshold: 1.0,
        });
        let objective = self
            .values
            .map(|(f, g)| f.value(self.x.view()) + g.value(self.kx.view()));
        Ok(StepInfo {
            objective,
            rel_residual: None,
            rel_normal_residual: Some(rel(pn, p0)),
            rel_change: Some(rel(change.sqrt(), xx.sqrt())),
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

    #[test]
    fn lasso_via_pdhg_meets_optimality_and_matches_fista() {
        let (a, y, lambda) = lasso(7);
        let f = L1(lambda);
        let g = Fit(y.clone());
        let x0 = zeros::<f32>(&[20]);
        let p = PdhgParams {
            eps_rel: 1e-6,
            eps_abs: 1e-8,
            ..PdhgParams::default()
        };
        let mut s = Pdhg::new(&a, &f, &g, x0.view(), p)
            .unwrap()
            .with_objective(&f, &g);
        let (t, sg) = s.steps();
        let nk = crate::ops::norm_estimate(&a, 500, 3);
        assert!(t * sg * nk * nk < 1.0);
        let r = Driver::new(20000).run(&mut s).unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        let kkt = lasso_kkt(&a, &y, lambda, &r.x);
        assert!(kkt < 1e-3, "{}: kkt {kkt:.2e}", r.summary());
        // Agreement with FISTA on the same problem.
        let ls = Ls::new(&a, y.clone());
        let mut fs = super::super::Fista::new(&ls, &f, x0.view(), Default::default()).unwrap();
        let rf = Driver::new(20000)
            .stop_when(super::super::Stop::RelNormalResidual(1e-7))
            .run(&mut fs)
            .unwrap();
        let d =
            r.x.iter()
                .zip(rf.x.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
        assert!(d < 1e-3, "pdhg and fista differ by {d}");
        // One K and one K^H per iteration, plus K x_0 and the norm estimate.
        assert_eq!(r.counts.forward - r.counts.adjoint, 1);
    }

    #[test]
    fn box_constrained_least_squares_meets_kkt() {
        // min ½‖A x − y‖² s.t. 0 <= x <= 0.5: f = box indicator, g = ½‖· − y‖², K = A.
        let a = DenseMatrix::<f32, f32>::random(30, 12, 5);
        let y = random_array::<f32>(&[30], 6);
        let f = BoxSet(0.0, 0.5);
        let g = Fit(y.clone());
        let x0 = zeros::<f32>(&[12]);
        let p = PdhgParams {
            eps_rel: 1e-6,
            eps_abs: 1e-8,
            ..PdhgParams::default()
        };
        let mut s = Pdhg::new(&a, &f, &g, x0.view(), p).unwrap();
        let r = Driver::new(50000).run(&mut s).unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        // KKT: gradient component sign conditions at the bounds, zero inside.
        let grad = a.adjoint((&a.apply(r.x.view()) - &y).view());
        let gmax = grad.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let mut active = 0;
        for (&x, &gi) in r.x.iter().zip(grad.iter()) {
            assert!((0.0..=0.5).contains(&x));
            if x <= 1e-5 {
                assert!(gi >= -1e-3 * gmax, "x = {x}, g = {gi}");
                active += 1;
            } else if x >= 0.5 - 1e-5 {
                assert!(gi <= 1e-3 * gmax, "x = {x}, g = {gi}");
                active += 1;
            } else {
                assert!(gi.abs() <= 1e-3 * gmax, "x = {x}, g = {gi}");
            }
        }
        assert!(active > 0, "the box should be active somewhere");
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let op = Identity::<f32>::new(&[3]);
        let f = L1(0.1);
        let g = Fit(zeros::<f32>(&[3]));
        let x0 = zeros::<f32>(&[3]);
        let bad = PdhgParams {
            theta: 2.0,
            ..PdhgParams::default()
        };
        assert!(Pdhg::new(&op, &f, &g, x0.view(), bad).is_err());
        let bad = PdhgParams {
            tau: Some(-1.0),
            sigma: Some(1.0),
            ..PdhgParams::default()
        };
        assert!(Pdhg::new(&op, &f, &g, x0.view(), bad).is_err());
        let x1 = zeros::<f32>(&[4]);
        assert!(Pdhg::new(&op, &f, &g, x1.view(), PdhgParams::default()).is_err());
    }
}
