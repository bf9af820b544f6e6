//! Landweber iteration and projected Landweber (box constraints).

use ndarray::{ArrayD, ArrayViewD};

use super::driver::{Iterative, StepInfo};
use super::{
    check_finite, check_lambda, norm_sq, rel, sl, sl_mut, standard, zeros, zip_sum, zip_sum2,
};
use crate::error::{Error, Result};
use crate::ops::counted::{Counted, OpCounts};
use crate::ops::{LinearOperator, norm_estimate};
use crate::scalar::Scalar;

/// Parameters of [`Landweber`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LandweberParams {
    /// Step `τ`; `None` (default) uses `τ = 1/(‖A‖² + λ)` with `‖A‖` estimated by
    /// [`norm_estimate`]. Convergence requires `0 < τ < 2/(‖A‖² + λ)`; a larger step
    /// diverges, which the [`Driver`](super::Driver) reports.
    pub step: Option<f64>,
    /// Tikhonov damping `λ >= 0` (default 0).
    pub lambda: f64,
    /// Box `(lower, upper)` the iterate is projected onto after every step (real iterates
    /// only). `(0.0, f32::INFINITY)` is non-negativity. Default: unconstrained.
    pub bounds: Option<(f32, f32)>,
    /// Power iterations for the norm estimate (default 100; ignored when `step` is set).
    pub norm_iters: usize,
    /// Seed of the power iteration's random start (default 0).
    pub seed: u64,
}

impl Default for LandweberParams {
    fn default() -> Self {
        LandweberParams {
            step: None,
            lambda: 0.0,
            bounds: None,
            norm_iters: 100,
            seed: 0,
        }
    }
}

/// Landweber iteration, i.e. gradient descent with fixed step on
/// `f(x) = ½‖A x − y‖² + ½λ‖x‖²`, optionally projected onto a box `C = [l, u]^n`:
/// ```text
/// x ← P_C(x + τ (A^H (y − A x) − λ x))
/// ```
/// One `A` and one `A^H` per step (one `A^H`, plus one `A` for a nonzero start, at set-up,
/// plus the power iterations of the default step). For `0 < τ < 2/(‖A‖² + λ)` the iterates
/// converge to a minimizer of `f` over `C` (for the unconstrained, undamped case, to the
/// least-squares solution closest to `x_0`); the error in the direction of a singular value
/// `σ` decays like `|1 − τσ²|^k`, so small singular values are reached late, which makes the
/// iteration count a regularization parameter on ill-posed problems (semi-convergence).
///
/// Reported per step (all at the new iterate): `objective = f(x)`,
/// `rel_residual = ‖A x − y‖/‖y‖`, `rel_change`, and `rel_normal_residual`, the gradient
/// norm `‖∇f(x)‖` — or, with bounds, the projected-gradient mapping
/// `‖x − P_C(x − τ∇f(x))‖/τ`, which vanishes exactly at constrained minimizers — relative to
/// its value at the start.
///
/// References: L. Landweber, Amer. J. Math. 73 (1951) 615–624; projected variant:
/// H. W. Engl, M. Hanke, A. Neubauer, *Regularization of Inverse Problems*, Kluwer 1996,
/// §6.1 and §5.
pub struct Landweber<'a, O: LinearOperator> {
    op: Counted<&'a O>,
    y: ArrayD<O::Range>,
    x: ArrayD<O::Domain>,
    r: ArrayD<O::Range>,
    g: ArrayD<O::Domain>,
    tau: f64,
    lambda: f64,
    bounds: Option<(f32, f32)>,
    y_norm: f64,
    g0_norm: f64,
}

impl<'a, O: LinearOperator> Landweber<'a, O> {
    /// Start from `x_0 = 0`.
    pub fn new(op: &'a O, y: ArrayViewD<O::Range>, params: LandweberParams) -> Result<Self> {
        Self::build(op, y, None, params)
    }

    /// Start from a given `x_0`.
    pub fn with_x0(
        op: &'a O,
        y: ArrayViewD<O::Range>,
        x0: ArrayViewD<O::Domain>,
        params: LandweberParams,
    ) -> Result<Self> {
        Self::build(op, y, Some(x0), params)
    }

    fn build(
        op: &'a O,
        y: ArrayViewD<O::Range>,
        x0: Option<ArrayViewD<O::Domain>>,
        params: LandweberParams,
    ) -> Result<Self> {
        op.check_range(y.shape(), "landweber data y")?;
        check_finite(y.view(), "landweber data y")?;
        check_lambda(params.lambda)?;
        if let Some((lo, hi)) = params.bounds {
            if O::Domain::IS_COMPLEX {
                return Err(Error::param(
                    "bounds",
                    "box constraints apply to real images only; this operator has a complex domain",
                ));
            }
            if lo.is_nan()
                || hi.is_nan()
                || lo > hi
                || lo == f32::INFINITY
                || hi == f32::NEG_INFINITY
            {
                return Err(Error::param(
                    "bounds",
                    format!("need lower <= upper with a nonempty box, got ({lo}, {hi})"),
                ));
            }
        }
        let op = Counted::new(op);
        let lambda = params.lambda;
        let tau = match params.step {
            Some(t) if t.is_finite() && t > 0.0 => t,
            Some(t) => {
                return Err(Error::param(
                    "step",
                    format!("must be finite and > 0, got {t}"),
                ));
            }
            None => {
                let n = norm_estimate(&op, params.norm_iters, params.seed);
                let l = n * n + lambda;
                if !(l > 0.0 && l.is_finite()) {
                    return Err(Error::param(
                        "step",
                        format!(
                            "cannot derive a step: estimated ||A||^2 + lambda = {l}; give `step` explicitly"
                        ),
                    ));
                }
                1.0 / l
            }
        };
        let y = standard(y);
        let y_norm = norm_sq(sl(&y)).sqrt();
        let mut r = y.clone();
        let x = match x0 {
            Some(x0) => {
                op.check_domain(x0.shape(), "landweber initial x0")?;
                check_finite(x0.view(), "landweber initial x0")?;
                let x = standard(x0);
                let ax = op.apply(x.view());
                r -= &ax;
                x
            }
            None => zeros(op.domain_shape()),
        };
        let mut s = Landweber {
            g: zeros(op.domain_shape()),
            op,
            y,
            x,
            r,
            tau,
            lambda,
            bounds: params.bounds,
            y_norm,
            g0_norm: 0.0,
        };
        s.g0_norm = s.gradient();
        Ok(s)
    }

    /// The step size `τ` in use.
    pub fn step_size(&self) -> f64 {
        self.tau
    }

    /// `g <- A^H r − λx` (one adjoint) and the optimality measure at `x`.
    fn gradient(&mut self) -> f64 {
        self.op.adjoint_into(self.r.view(), self.g.view_mut());
        let l = self.lambda as f32;
        let tau = self.tau as f32;
        match self.bounds {
            None if l == 0.0 => norm_sq(sl(&self.g)).sqrt(),
            None => zip_sum(sl_mut(&mut self.g), sl(&self.x), |g, x| {
                *g -= x * l;
                g.dot_re(*g)
            })
            .sqrt(),
            Some((lo, hi)) => {
                zip_sum(sl_mut(&mut self.g), sl(&self.x), |g, x| {
                    *g -= x * l;
                    let d = clamp((x + *g * tau).re(), lo, hi) as f64 - x.re() as f64;
                    d * d
                })
                .sqrt()
                    / self.tau
            }
        }
    }
}

/// `v` clamped to `[lo, hi]`; NaN passes through (so the driver still sees it), and the
/// branch-free form vectorizes (`f32::clamp` re-checks `lo <= hi` per element).
#[inline]
fn clamp(v: f32, lo: f32, hi: f32) -> f32 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

impl<O: LinearOperator> Iterative for Landweber<'_, O> {
    type Elem = O::Domain;

    fn name(&self) -> &'static str {
        "landweber"
    }

    fn step(&mut self) -> Result<StepInfo> {
        let tau = self.tau as f32;
        let bounds = self.bounds;
        let (dd, xx) = zip_sum2(sl_mut(&mut self.x), sl(&self.g), |x, g| {
            let old = *x;
            let mut new = old + g * tau;
            if let Some((lo, hi)) = bounds {
                new = O::Domain::from_real(clamp(new.re(), lo, hi));
            }
            let d = new - old;
            *x = new;
            (d.dot_re(d), new.dot_re(new))
        });
        self.op.apply_into(self.x.view(), self.r.view_mut());
        let rr = zip_sum(sl_mut(&mut self.r), sl(&self.y), |r, y| {
            *r = y - *r;
            r.dot_re(*r)
        });
        let opt = self.gradient();
        Ok(StepInfo {
            objective: Some(0.5 * (rr + self.lambda * xx)),
            rel_residual: Some(rel(rr.sqrt(), self.y_norm)),
            rel_normal_residual: Some(rel(opt, self.g0_norm)),
            rel_change: Some(rel(dd.sqrt(), xx.sqrt())),
            converged: None,
        })
    }

    fn current(&self) -> ArrayViewD<'_, O::Domain> {
        self.x.view()
    }

    fn counts(&self) -> OpCounts {
        self.op.counts()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Cgls, CglsParams, Driver, Inspect, IterRecord, Stop, Termination};
    use super::*;
    use crate::scalar::c32;
    use ndarray::{Array2, IxDyn};

    fn check<O: LinearOperator>(op: &O, seed: u64, lambda: f64) {
        let y = random_array::<O::Range>(op.range_shape(), seed);
        let want = reference(op, &y, lambda);
        let params = LandweberParams {
            lambda,
            ..LandweberParams::default()
        };
        let mut s = Landweber::new(op, y.view(), params).unwrap();
        let setup = s.counts();
        assert_eq!(setup.forward, setup.adjoint - 1, "power iterations + A^H y");
        let r = Driver::new(5000)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .run(&mut s)
            .unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        let err = rel_err(&real_coords(&r.x), &want);
        assert!(err < 5e-5, "{}: rel error {err:.2e}", r.summary());
        assert_eq!(r.counts.forward, setup.forward + r.iterations as u64);
        assert_eq!(r.counts.adjoint, setup.adjoint + r.iterations as u64);
        // Gradient descent with tau <= 1/L decreases the objective monotonically.
        for w in r.history.windows(2) {
            let (a, b) = (w[0].objective.unwrap(), w[1].objective.unwrap());
            assert!(b <= a * (1.0 + 1e-6), "objective rose from {a} to {b}");
        }
    }

    #[test]
    fn converges_to_the_least_squares_solution_real_complex_mixed() {
        let (a, b, c) = problems(80);
        for lambda in [0.0, 0.3] {
            check(&a, 1, lambda);
            check(&b, 2, lambda);
            check(&c, 3, lambda);
        }
    }

    #[test]
    fn matches_the_closed_form_iterates_for_a_diagonal_operator() {
        // x_k = (1 - (1 - tau d^2)^k) y / d componentwise.
        let d = [1.0f32, 0.5, 0.25, 2.0];
        let op = diag(&d);
        let y = random_array::<f32>(&[4], 4);
        let tau = 0.2;
        let params = LandweberParams {
            step: Some(tau),
            ..LandweberParams::default()
        };
        let mut s = Landweber::new(&op, y.view(), params).unwrap();
        assert_eq!(s.counts().forward, 0, "no norm estimate with a given step");
        let r = Driver::new(9).run(&mut s).unwrap();
        for i in 0..4 {
            let di = d[i] as f64;
            let want = (1.0 - (1.0 - tau * di * di).powi(9)) * y[[i]] as f64 / di;
            assert!((r.x[[i]] as f64 - want).abs() < 1e-5, "{i}");
        }
    }

    fn diag(d: &[f32]) -> DenseMatrix<f32, f32> {
        let mut m = Array2::<f32>::zeros((d.len(), d.len()));
        for (i, &v) in d.iter().enumerate() {
            m[[i, i]] = v;
        }
        DenseMatrix::new(m)
    }

    #[test]
    fn projected_landweber_respects_the_box_and_finds_the_constrained_solution() {
        // Diagonal A: the constrained minimizer is clamp(y_i / d_i, lo, hi).
        let d = [1.0f32, 0.8, 1.5, 0.6, 1.2, 0.9];
        let op = diag(&d);
        let y =
            ArrayD::from_shape_vec(IxDyn(&[6]), vec![-0.5f32, 0.3, 2.4, 0.9, 0.1, -1.0]).unwrap();
        let (lo, hi) = (0.0f32, 1.0f32);
        let params = LandweberParams {
            bounds: Some((lo, hi)),
            ..LandweberParams::default()
        };
        let mut s = Landweber::new(&op, y.view(), params).unwrap();
        let mut violations = 0;
        let r = Driver::new(2000)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .observe(Box::new(Inspect::new(
                |_: &IterRecord, x: ArrayViewD<f32>| {
                    violations += x.iter().filter(|&&v| !(lo..=hi).contains(&v)).count();
                    Ok(())
                },
            )))
            .run(&mut s)
            .unwrap();
        assert_eq!(violations, 0);
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        for i in 0..6 {
            let want = (y[[i]] / d[i]).clamp(lo, hi);
            assert!(
                (r.x[[i]] - want).abs() < 1e-5,
                "{i}: {} vs {want}",
                r.x[[i]]
            );
        }
    }

    #[test]
    fn non_negative_least_squares_satisfies_kkt() {
        // min ½‖Ax − y‖² s.t. x >= 0 on a dense problem: check the KKT conditions
        // g = A^T(Ax − y) >= 0, x >= 0, x_i g_i = 0.
        let (a, _, _) = problems(90);
        let y = random_array::<f32>(&[36], 11);
        let params = LandweberParams {
            bounds: Some((0.0, f32::INFINITY)),
            ..LandweberParams::default()
        };
        let mut s = Landweber::new(&a, y.view(), params).unwrap();
        let r = Driver::new(20_000)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .run(&mut s)
            .unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        let res = &a.apply(r.x.view()) - &y;
        let g = a.adjoint(res.view());
        let scale = crate::linalg::norm2(a.adjoint(y.view()).view()) as f32;
        let mut active = 0;
        for (&x, &gi) in r.x.iter().zip(g.iter()) {
            assert!(x >= 0.0);
            if x == 0.0 {
                active += 1;
                assert!(gi >= -1e-5 * scale, "active constraint with g = {gi}");
            } else {
                assert!(gi.abs() <= 1e-4 * scale, "free variable with g = {gi}");
            }
        }
        // A random y makes some constraints active: the test exercises both cases.
        assert!(active > 0 && active < 12, "{active} active constraints");
    }

    #[test]
    fn semi_convergence_on_an_ill_posed_problem() {
        // Singular values 1 .. 1e-4, truth with coefficients sqrt(sigma) (it satisfies the
        // discrete Picard condition), data with a fixed perturbation ±1e-2: the error to the
        // truth first decreases (large singular values are fitted) and then increases (the
        // perturbation is amplified by 1/sigma). In f64 the minimum error is 0.24 (Landweber,
        // k ≈ 370) and 0.21 (CGLS, k = 4), from 1.33 at x = 0, ending at 2.9 and 12.
        let n = 12;
        let d: Vec<f32> = (0..n)
            .map(|i| 10f32.powf(-4.0 * i as f32 / (n - 1) as f32))
            .collect();
        let op = diag(&d);
        let truth = ArrayD::from_shape_fn(IxDyn(&[n]), |i| d[i[0]].sqrt());
        let mut y = op.apply(truth.view());
        for (i, v) in y.iter_mut().enumerate() {
            *v += if i % 2 == 0 { 1e-2 } else { -1e-2 };
        }
        let err = |x: ArrayViewD<f32>| crate::linalg::norm2((&x - &truth).view());
        for solver in ["landweber", "cgls"] {
            let mut errors = Vec::new();
            let observe = Box::new(Inspect::new(|_: &IterRecord, x: ArrayViewD<f32>| {
                errors.push(err(x));
                Ok(())
            }));
            if solver == "landweber" {
                let mut s = Landweber::new(&op, y.view(), LandweberParams::default()).unwrap();
                Driver::new(100_000).observe(observe).run(&mut s).unwrap();
            } else {
                let mut s = Cgls::new(&op, y.view(), CglsParams::default()).unwrap();
                Driver::new(n).observe(observe).run(&mut s).unwrap();
            }
            let e0 = err(ArrayD::zeros(IxDyn(&[n])).view());
            let (kbest, best) =
                errors
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f64::INFINITY),
                        |acc, (k, &e)| if e < acc.1 { (k, e) } else { acc },
                    );
            let last = *errors.last().unwrap();
            assert!(best < 0.6 * e0, "{solver}: best {best} vs start {e0}");
            assert!(last > 3.0 * best, "{solver}: final {last} vs best {best}");
            assert!(
                kbest > 0 && kbest + 1 < errors.len(),
                "{solver}: optimum at an end"
            );
        }
    }

    #[test]
    fn too_large_a_step_is_reported_as_divergence() {
        let (a, _, _) = problems(100);
        let y = random_array::<f32>(&[36], 1);
        let l = crate::ops::norm_estimate(&a, 200, 1);
        let params = LandweberParams {
            step: Some(3.0 / (l * l)),
            ..LandweberParams::default()
        };
        let mut s = Landweber::new(&a, y.view(), params).unwrap();
        let e = Driver::new(10_000).run(&mut s).unwrap_err();
        assert!(
            matches!(&e, Error::Diverged { solver, .. } if solver == "landweber"),
            "{e}"
        );
    }

    #[test]
    fn zero_data_with_a_warm_start_is_not_mistaken_for_divergence() {
        // y = 0: relative measures fall back to absolute ones instead of dividing by 0.
        let (a, _, _) = problems(120);
        let y = ArrayD::<f32>::zeros(IxDyn(&[36]));
        let x0 = random_array::<f32>(&[12], 3);
        let mut s =
            Landweber::with_x0(&a, y.view(), x0.view(), LandweberParams::default()).unwrap();
        assert_eq!(s.counts().forward, s.counts().adjoint, "A x0 at set-up");
        let r = Driver::new(3000)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .run(&mut s)
            .unwrap();
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{}",
            r.summary()
        );
        assert!(crate::linalg::norm2(r.x.view()) < 1e-4 * crate::linalg::norm2(x0.view()));
        // With y = 0 the residual is reported in absolute terms: ‖A x_k‖.
        let ax = a.apply(r.x.view());
        let got = r.last().unwrap().rel_residual.unwrap();
        assert!((got - crate::linalg::norm2(ax.view())).abs() < 1e-6);
    }

    #[test]
    fn projection_does_not_hide_nan() {
        // A broken operator (a NaN entry): clamping must not turn NaN into a bound.
        let mut m = Array2::<f32>::eye(4);
        m[[2, 2]] = f32::NAN;
        let op = DenseMatrix::<f32, f32>::new(m);
        let y = random_array::<f32>(&[4], 1);
        let params = LandweberParams {
            step: Some(0.5),
            bounds: Some((0.0, 1.0)),
            ..LandweberParams::default()
        };
        let mut s = Landweber::new(&op, y.view(), params).unwrap();
        let e = Driver::new(10).run(&mut s).unwrap_err();
        assert!(matches!(e, Error::Diverged { iteration: 1, .. }), "{e}");
        // Without a step, the norm estimate is NaN and the set-up says so.
        let p = LandweberParams {
            bounds: Some((0.0, 1.0)),
            ..LandweberParams::default()
        };
        assert!(Landweber::new(&op, y.view(), p).is_err());
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let (a, b, _) = problems(110);
        let y = random_array::<f32>(&[36], 1);
        for p in [
            LandweberParams {
                step: Some(0.0),
                ..LandweberParams::default()
            },
            LandweberParams {
                bounds: Some((1.0, 0.0)),
                ..LandweberParams::default()
            },
            LandweberParams {
                bounds: Some((f32::NAN, 0.0)),
                ..LandweberParams::default()
            },
            LandweberParams {
                lambda: -1.0,
                ..LandweberParams::default()
            },
        ] {
            assert!(Landweber::new(&a, y.view(), p).is_err(), "{p:?}");
        }
        // Bounds on a complex domain make no sense.
        let yc = random_array::<c32>(&[30], 1);
        let p = LandweberParams {
            bounds: Some((0.0, 1.0)),
            ..LandweberParams::default()
        };
        assert!(Landweber::new(&b, yc.view(), p).is_err());
    }
}
