//! LSQR: Paige & Saunders' bidiagonalization method for least squares.

use ndarray::{ArrayD, ArrayViewD};

use super::driver::{Convergence, Iterative, StepInfo};
use super::{
    check_finite, check_lambda, norm_sq, rel, sl, sl_mut, standard, zeros, zip_sum, zip3_sum2,
};
use crate::error::{Error, Result};
use crate::ops::LinearOperator;
use crate::ops::counted::{Counted, OpCounts};
use crate::scalar::Scalar;

/// Parameters of [`Lsqr`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LsqrParams {
    /// Tikhonov damping `λ >= 0` in `½‖A x − y‖² + ½λ‖x‖²` (Paige & Saunders'
    /// `damp = √λ`) (default 0).
    pub lambda: f64,
    /// Relative accuracy of `A` for the stopping tests (default `1e-6`; 0 disables).
    pub atol: f64,
    /// Relative accuracy of `y` for the stopping tests (default `1e-6`; 0 disables).
    pub btol: f64,
    /// Stop when the condition estimate of `[A; √λ I]` reaches this (default `1e8`;
    /// 0 or `∞` disables).
    pub conlim: f64,
}

impl Default for LsqrParams {
    fn default() -> Self {
        LsqrParams {
            lambda: 0.0,
            atol: 1e-6,
            btol: 1e-6,
            conlim: 1e8,
        }
    }
}

/// LSQR (Paige & Saunders 1982) for `min ½‖A x − y‖² + ½λ‖x‖²`, starting from `x = 0`.
///
/// Golub–Kahan bidiagonalization `β₁u₁ = y`, `α₁v₁ = A^H u₁`,
/// `β_{k+1}u_{k+1} = A v_k − α_k u_k`, `α_{k+1}v_{k+1} = A^H u_{k+1} − β_{k+1} v_k`
/// reduces the problem to a lower-bidiagonal least-squares problem, which is solved by
/// Givens rotations updated at every step (a first rotation per step eliminates the
/// damping). Each step costs one `A` and one `A^H` (plus one `A^H` at set-up). In exact
/// arithmetic the iterates equal those of CGLS; LSQR is more reliable on ill-conditioned
/// problems.
///
/// The rotations yield, at no cost, estimates of `‖r̄‖ = (‖y − A x‖² + λ‖x‖²)^½`,
/// `‖Ā^H r̄‖ = ‖A^H(y − A x) − λx‖`, the Frobenius norm `‖Ā‖` and `cond(Ā)` of
/// `Ā = [A; √λ I]`. The method stops itself (reported as [`Convergence`]) on the first of
/// 1. `‖r̄‖ <= btol ‖y‖ + atol ‖Ā‖ ‖x‖` (compatible systems),
/// 2. `‖Ā^H r̄‖ / (‖Ā‖ ‖r̄‖) <= atol` (least-squares solution reached),
/// 3. `cond(Ā) >= conlim`.
///
/// Reported per step: `objective = ½‖r̄‖²`, `rel_residual = ‖y − A x‖/‖y‖` (from the
/// estimate, `(‖r̄‖² − λ‖x‖²)^½` with the exact `‖x‖`), `rel_normal_residual =
/// ‖Ā^H r̄‖/‖A^H y‖` and the exact relative change. Inner products are the real ones, so
/// real-to-complex operators are supported.
///
/// Reference: C. C. Paige and M. A. Saunders, "LSQR: An algorithm for sparse linear
/// equations and sparse least squares", ACM TOMS 8(1), 43–71 (1982).
pub struct Lsqr<'a, O: LinearOperator> {
    op: Counted<&'a O>,
    params: LsqrParams,
    x: ArrayD<O::Domain>,
    u: ArrayD<O::Range>,
    v: ArrayD<O::Domain>,
    w: ArrayD<O::Domain>,
    au: ArrayD<O::Range>,
    atu: ArrayD<O::Domain>,
    alpha: f64,
    rhobar: f64,
    phibar: f64,
    anorm: f64,
    ddnorm: f64,
    res2: f64,
    bnorm: f64,
    arnorm0: f64,
    last: Option<StepInfo>,
}

impl<'a, O: LinearOperator> Lsqr<'a, O> {
    /// Set up the bidiagonalization for data `y` (one `A^H` application).
    pub fn new(op: &'a O, y: ArrayViewD<O::Range>, params: LsqrParams) -> Result<Self> {
        op.check_range(y.shape(), "lsqr data y")?;
        check_finite(y.view(), "lsqr data y")?;
        check_lambda(params.lambda)?;
        for (name, v) in [("atol", params.atol), ("btol", params.btol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(
                    name,
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        if params.conlim.is_nan() || params.conlim < 0.0 {
            return Err(Error::param(
                "conlim",
                format!("must be >= 0 (0 disables), got {}", params.conlim),
            ));
        }
        let op = Counted::new(op);
        let mut u = standard(y);
        let bnorm = norm_sq(sl(&u)).sqrt();
        let mut v = zeros::<O::Domain>(op.domain_shape());
        let mut alpha = 0.0;
        if bnorm > 0.0 {
            scale(sl_mut(&mut u), 1.0 / bnorm);
            op.adjoint_into(u.view(), v.view_mut());
            alpha = norm_sq(sl(&v)).sqrt();
            if alpha > 0.0 {
                scale(sl_mut(&mut v), 1.0 / alpha);
            }
        }
        Ok(Lsqr {
            params,
            x: zeros(op.domain_shape()),
            w: v.clone(),
            au: zeros(op.range_shape()),
            atu: zeros(op.domain_shape()),
            u,
            v,
            alpha,
            rhobar: alpha,
            phibar: bnorm,
            anorm: 0.0,
            ddnorm: 0.0,
            res2: 0.0,
            bnorm,
            arnorm0: alpha * bnorm,
            op,
            last: None,
        })
    }

    /// The Frobenius-norm estimate of `[A; √λ I]` accumulated so far.
    pub fn anorm(&self) -> f64 {
        self.anorm
    }

    /// The condition estimate of `[A; √λ I]` so far.
    pub fn acond(&self) -> f64 {
        self.anorm * self.ddnorm.sqrt()
    }

    fn finish(&mut self, info: StepInfo) -> StepInfo {
        self.last = Some(info.clone());
        info
    }
}

fn scale<T: Scalar>(a: &mut [T], s: f64) {
    let s = s as f32;
    for v in a {
        *v *= T::from_real(s);
    }
}

impl<O: LinearOperator> Iterative for Lsqr<'_, O> {
    type Elem = O::Domain;

    fn name(&self) -> &'static str {
        "lsqr"
    }

    fn step(&mut self) -> Result<StepInfo> {
        if let Some(info) = &self.last
            && info.converged.is_some()
        {
            return Ok(info.clone());
        }
        if self.arnorm0 == 0.0 {
            // y = 0 or A^H y = 0: x = 0 is the (minimum-norm) least-squares solution.
            let info = StepInfo {
                objective: Some(0.5 * self.bnorm * self.bnorm),
                rel_residual: Some(if self.bnorm > 0.0 { 1.0 } else { 0.0 }),
                rel_normal_residual: Some(0.0),
                rel_change: Some(0.0),
                converged: Some(Convergence {
                    criterion: "A^H y = 0 (x = 0 is the solution)",
                    value: 0.0,
                    threshold: 0.0,
                }),
            };
            return Ok(self.finish(info));
        }
        let lambda = self.params.lambda;
        let damp = lambda.sqrt();

        // Bidiagonalization: beta u = A v - alpha u, alpha v = A^H u - beta v.
        self.op.apply_into(self.v.view(), self.au.view_mut());
        let a = self.alpha as f32;
        let bb = zip_sum(sl_mut(&mut self.u), sl(&self.au), |u, au| {
            *u = au - *u * a;
            u.dot_re(*u)
        });
        let beta = bb.sqrt();
        if beta > 0.0 {
            scale(sl_mut(&mut self.u), 1.0 / beta);
            self.anorm =
                (self.anorm * self.anorm + self.alpha * self.alpha + beta * beta + lambda).sqrt();
            self.op.adjoint_into(self.u.view(), self.atu.view_mut());
            let b = beta as f32;
            let aa = zip_sum(sl_mut(&mut self.v), sl(&self.atu), |v, atu| {
                *v = atu - *v * b;
                v.dot_re(*v)
            });
            self.alpha = aa.sqrt();
            if self.alpha > 0.0 {
                scale(sl_mut(&mut self.v), 1.0 / self.alpha);
            }
        }

        // Rotation eliminating the damping, then the subdiagonal beta.
        let (rhobar1, psi) = if damp > 0.0 {
            let r1 = self.rhobar.hypot(damp);
            let psi = damp / r1 * self.phibar;
            self.phibar *= self.rhobar / r1;
            (r1, psi)
        } else {
            (self.rhobar, 0.0)
        };
        let rho = rhobar1.hypot(beta);
        if rho == 0.0 {
            // Only possible when alpha = beta = 0 without damping: the Krylov space is
            // exhausted and x is the solution.
            let info = StepInfo {
                converged: Some(Convergence {
                    criterion: "lsqr: Krylov space exhausted",
                    value: 0.0,
                    threshold: 0.0,
                }),
                ..self.last.clone().unwrap_or_default()
            };
            return Ok(self.finish(info));
        }
        let (cs, sn) = (rhobar1 / rho, beta / rho);
        let theta = sn * self.alpha;
        self.rhobar = -cs * self.alpha;
        let phi = cs * self.phibar;
        self.phibar *= sn;
        let tau = sn * phi;

        // x <- x + (phi/rho) w,  w <- v - (theta/rho) w.
        let (t1, t2) = ((phi / rho) as f32, (-theta / rho) as f32);
        let (ww, xx) = zip3_sum2(
            sl_mut(&mut self.x),
            sl_mut(&mut self.w),
            sl(&self.v),
            |x, w, v| {
                let ww = w.dot_re(*w);
                *x += *w * t1;
                *w = v + *w * t2;
                (ww, x.dot_re(*x))
            },
        );
        self.ddnorm += ww / (rho * rho);

        // Norm estimates and the three stopping tests.
        self.res2 += psi * psi;
        let rnorm = (self.phibar * self.phibar + self.res2).sqrt();
        let arnorm = self.alpha * tau.abs();
        let xnorm = xx.sqrt();
        let r1norm = (rnorm * rnorm - lambda * xx).max(0.0).sqrt();
        let acond = self.acond();
        let test1 = rnorm / self.bnorm;
        let rtol = self.params.btol + self.params.atol * self.anorm * xnorm / self.bnorm;
        let test2 = rel(arnorm, self.anorm * rnorm);
        let conlim = self.params.conlim;
        let converged = if test1 <= rtol {
            Some(Convergence {
                criterion: "lsqr test 1: residual <= btol ||y|| + atol ||A|| ||x||",
                value: test1,
                threshold: rtol,
            })
        } else if test2 <= self.params.atol {
            Some(Convergence {
                criterion: "lsqr test 2: ||A^H r|| / (||A|| ||r||) <= atol",
                value: test2,
                threshold: self.params.atol,
            })
        } else if conlim > 0.0 && conlim.is_finite() && acond >= conlim {
            Some(Convergence {
                criterion: "lsqr test 3: condition estimate >= conlim",
                value: acond,
                threshold: conlim,
            })
        } else {
            None
        };
        let info = StepInfo {
            objective: Some(0.5 * rnorm * rnorm),
            rel_residual: Some(r1norm / self.bnorm),
            rel_normal_residual: Some(arnorm / self.arnorm0),
            rel_change: Some(rel((phi / rho).abs() * ww.sqrt(), xnorm)),
            converged,
        };
        Ok(self.finish(info))
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
    use super::super::{Cgls, CglsParams, Driver, Termination};
    use super::*;
    use crate::ops::Identity;
    use crate::scalar::c32;
    use ndarray::IxDyn;

    fn check<O: LinearOperator>(op: &O, seed: u64, lambda: f64) {
        let y = random_array::<O::Range>(op.range_shape(), seed);
        let want = reference(op, &y, lambda);
        let n = want.len();
        let params = LsqrParams {
            lambda,
            atol: 1e-7,
            btol: 1e-7,
            ..LsqrParams::default()
        };
        let mut s = Lsqr::new(op, y.view(), params).unwrap();
        let r = Driver::new(3 * n).run(&mut s).unwrap();
        assert!(
            matches!(&r.termination, Termination::Converged(c) if c.criterion.contains("test 2")),
            "{} (n = {n})",
            r.summary()
        );
        let err = rel_err(&real_coords(&r.x), &want);
        assert!(err < 2e-5, "{}: rel error {err:.2e}", r.summary());
        assert_eq!(r.counts.forward, r.iterations as u64);
        assert_eq!(r.counts.adjoint, r.iterations as u64 + 1);

        // The free estimates agree with recomputed values.
        let last = r.last().unwrap();
        let res = &y - &op.apply(r.x.view());
        let rr = crate::linalg::norm2_sq(res.view());
        let xx = crate::linalg::norm2_sq(r.x.view());
        let want_obj = 0.5 * (rr + lambda * xx);
        let got_obj = last.objective.unwrap();
        assert!(
            (got_obj - want_obj).abs() < 1e-4 * want_obj,
            "{got_obj} vs {want_obj}"
        );
        let want_rel = rr.sqrt() / crate::linalg::norm2(y.view());
        let got_rel = last.rel_residual.unwrap();
        assert!(
            (got_rel - want_rel).abs() < 1e-4 * want_rel,
            "{got_rel} vs {want_rel}"
        );
    }

    #[test]
    fn reaches_the_normal_equation_solution_real_complex_mixed() {
        let (a, b, c) = problems(40);
        for lambda in [0.0, 0.3] {
            check(&a, 1, lambda);
            check(&b, 2, lambda);
            check(&c, 3, lambda);
        }
    }

    #[test]
    fn iterates_match_cgls_in_early_iterations() {
        // Both methods produce the k-th Krylov minimizer; in floating point they agree
        // closely for the first few steps.
        let (_, b, _) = problems(50);
        let y = random_array::<c32>(&[30], 6);
        for lambda in [0.0, 0.5] {
            for k in 1..=5 {
                let mut l = Lsqr::new(
                    &b,
                    y.view(),
                    LsqrParams {
                        lambda,
                        atol: 0.0,
                        btol: 0.0,
                        conlim: 0.0,
                    },
                )
                .unwrap();
                let mut c = Cgls::new(&b, y.view(), CglsParams { lambda }).unwrap();
                let xl = Driver::new(k).run(&mut l).unwrap().x;
                let xc = Driver::new(k).run(&mut c).unwrap().x;
                let err = rel_err(&real_coords(&xl), &real_coords(&xc));
                assert!(err < 1e-5, "k = {k}, lambda = {lambda}: {err:.2e}");
            }
        }
    }

    #[test]
    fn normal_residual_estimate_matches_recomputed_value() {
        let (a, _, _) = problems(60);
        let y = random_array::<f32>(&[36], 2);
        let lambda = 0.2;
        let params = LsqrParams {
            lambda,
            atol: 0.0,
            btol: 0.0,
            conlim: 0.0,
        };
        let mut s = Lsqr::new(&a, y.view(), params).unwrap();
        let r = Driver::new(4).run(&mut s).unwrap();
        let res = &y - &a.apply(r.x.view());
        let g = &a.adjoint(res.view()) - &(&r.x * lambda as f32);
        let g0 = a.adjoint(y.view());
        let want = crate::linalg::norm2(g.view()) / crate::linalg::norm2(g0.view());
        let got = r.last().unwrap().rel_normal_residual.unwrap();
        assert!((got - want).abs() < 1e-3 * want, "{got} vs {want}");
    }

    #[test]
    fn compatible_system_stops_on_test_1_and_trivial_cases() {
        // y in the range of A: the residual vanishes and test 1 fires.
        let (a, _, _) = problems(70);
        let xt = random_array::<f32>(&[12], 1);
        let y = a.apply(xt.view());
        let mut s = Lsqr::new(&a, y.view(), LsqrParams::default()).unwrap();
        let r = Driver::new(100).run(&mut s).unwrap();
        assert!(
            matches!(&r.termination, Termination::Converged(c) if c.criterion.contains("test 1")),
            "{}",
            r.summary()
        );
        assert!(rel_err(&real_coords(&r.x), &real_coords(&xt)) < 1e-5);

        // Identity: one step.
        let op = Identity::<f32>::new(&[5]);
        let y = random_array::<f32>(&[5], 2);
        let mut s = Lsqr::new(&op, y.view(), LsqrParams::default()).unwrap();
        let r = Driver::new(10).run(&mut s).unwrap();
        assert_eq!(r.iterations, 1);
        assert!(rel_err(&real_coords(&r.x), &real_coords(&y)) < 1e-6);

        // y = 0: converged at once with x = 0 and no operator application.
        let z = ArrayD::<f32>::zeros(IxDyn(&[5]));
        let mut s = Lsqr::new(&op, z.view(), LsqrParams::default()).unwrap();
        let r = Driver::new(10).run(&mut s).unwrap();
        assert_eq!(
            (r.iterations, r.counts.forward, r.counts.adjoint),
            (1, 0, 0)
        );
        assert!(r.x.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn condition_limit_stops_ill_conditioned_problems() {
        // Diagonal with singular values down to 1e-6: cond(A) = 1e6 > conlim = 1e3.
        let d: Vec<f32> = (0..10).map(|i| 10f32.powf(-0.6 * i as f32)).collect();
        let mut m = ndarray::Array2::<f32>::zeros((10, 10));
        for (i, &v) in d.iter().enumerate() {
            m[[i, i]] = v;
        }
        let op = DenseMatrix::<f32, f32>::new(m);
        let y = random_array::<f32>(&[10], 3);
        let params = LsqrParams {
            atol: 0.0,
            btol: 0.0,
            conlim: 1e3,
            ..LsqrParams::default()
        };
        let mut s = Lsqr::new(&op, y.view(), params).unwrap();
        let r = Driver::new(50).run(&mut s).unwrap();
        match &r.termination {
            Termination::Converged(c) => {
                assert!(c.criterion.contains("test 3"), "{}", r.summary());
                assert!(c.value >= 1e3);
            }
            t => panic!("{t:?}"),
        }
        assert!(r.iterations < 10);
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let op = Identity::<f32>::new(&[3]);
        let y = random_array::<f32>(&[3], 1);
        for p in [
            LsqrParams {
                atol: -1.0,
                ..LsqrParams::default()
            },
            LsqrParams {
                btol: f64::NAN,
                ..LsqrParams::default()
            },
            LsqrParams {
                conlim: -1.0,
                ..LsqrParams::default()
            },
            LsqrParams {
                lambda: -0.1,
                ..LsqrParams::default()
            },
        ] {
            assert!(Lsqr::new(&op, y.view(), p).is_err(), "{p:?}");
        }
    }
}
