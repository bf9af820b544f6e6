//! CGLS: conjugate gradients on the normal equations.

use ndarray::{ArrayD, ArrayViewD};

use super::driver::{Convergence, Iterative, StepInfo};
use super::{check_finite, check_lambda, norm_sq, rel, sl, sl_mut, standard, zeros, zip_sum};
use crate::error::Result;
use crate::ops::LinearOperator;
use crate::ops::counted::{Counted, OpCounts};
use crate::scalar::Scalar;

/// Parameters of [`Cgls`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CglsParams {
    /// Tikhonov damping `λ >= 0` in `½‖A x − y‖² + ½λ‖x‖²` (default 0).
    pub lambda: f64,
}

impl Default for CglsParams {
    fn default() -> Self {
        CglsParams { lambda: 0.0 }
    }
}

/// Björck's CGLS: the conjugate gradient method applied to the normal equations
/// `(A^H A + λI) x = A^H y` without forming `A^H A`, minimizing
/// `f(x) = ½‖A x − y‖² + ½λ‖x‖²`.
///
/// With `r = y − A x`, `s = A^H r − λx` (= `−∇f`), `p = s`, `γ = ‖s‖²`, one step is
/// ```text
/// q = A p,   δ = ‖q‖² + λ‖p‖²,   α = γ / δ
/// x ← x + α p,   r ← r − α q,   s = A^H r − λ x
/// γ' = ‖s‖²,   p ← s + (γ'/γ) p,   γ ← γ'
/// ```
/// costing one `A` and one `A^H` (plus one `A^H` at set-up, and one `A` more when a
/// nonzero start is given). Iterates minimize `f` over the Krylov space
/// `x_0 + K_k(A^H A, s_0)`; in exact arithmetic the method terminates in at most
/// `rank(A)` steps, and on ill-posed problems the iteration count acts as the
/// regularization (semi-convergence). The residual `r` is updated by recursion; the
/// reported `rel_residual` is `‖r_k‖/‖y‖` and `rel_normal_residual` is `‖s_k‖/‖s_0‖`.
/// When `s` vanishes exactly the method reports convergence (`normal_residual`).
///
/// The inner products use the real inner product `Re <a, b>`, so real-to-complex
/// operators (complex data, real image) are handled correctly: the normal equations are
/// those of the real-linear map.
///
/// Reference: Å. Björck, *Numerical Methods for Least Squares Problems*, SIAM 1996, §7.4;
/// M. R. Hestenes and E. Stiefel, J. Res. NBS 49 (1952).
pub struct Cgls<'a, O: LinearOperator> {
    op: Counted<&'a O>,
    lambda: f64,
    x: ArrayD<O::Domain>,
    r: ArrayD<O::Range>,
    s: ArrayD<O::Domain>,
    p: ArrayD<O::Domain>,
    q: ArrayD<O::Range>,
    gamma: f64,
    pp: f64,
    s0_norm: f64,
    y_norm: f64,
    last: Option<StepInfo>,
}

impl<'a, O: LinearOperator> Cgls<'a, O> {
    /// Start from `x_0 = 0`.
    pub fn new(op: &'a O, y: ArrayViewD<O::Range>, params: CglsParams) -> Result<Self> {
        Self::build(op, y, None, params)
    }

    /// Start from a given `x_0` (warm start).
    pub fn with_x0(
        op: &'a O,
        y: ArrayViewD<O::Range>,
        x0: ArrayViewD<O::Domain>,
        params: CglsParams,
    ) -> Result<Self> {
        Self::build(op, y, Some(x0), params)
    }

    fn build(
        op: &'a O,
        y: ArrayViewD<O::Range>,
        x0: Option<ArrayViewD<O::Domain>>,
        params: CglsParams,
    ) -> Result<Self> {
        op.check_range(y.shape(), "cgls data y")?;
        check_finite(y.view(), "cgls data y")?;
        check_lambda(params.lambda)?;
        let op = Counted::new(op);
        let mut r = standard(y.view());
        let y_norm = norm_sq(sl(&r)).sqrt();
        let mut s = zeros::<O::Domain>(op.domain_shape());
        let x = match x0 {
            Some(x0) => {
                op.check_domain(x0.shape(), "cgls initial x0")?;
                check_finite(x0.view(), "cgls initial x0")?;
                let x = standard(x0);
                let ax = op.apply(x.view());
                r -= &ax;
                x
            }
            None => zeros(op.domain_shape()),
        };
        op.adjoint_into(r.view(), s.view_mut());
        let lambda = params.lambda;
        if lambda > 0.0 {
            let l = lambda as f32;
            zip_sum(sl_mut(&mut s), sl(&x), |s, x| {
                *s -= x * l;
                0.0
            });
        }
        let gamma = norm_sq(sl(&s));
        Ok(Cgls {
            lambda,
            p: s.clone(),
            q: zeros(op.range_shape()),
            x,
            r,
            s,
            gamma,
            pp: gamma,
            s0_norm: gamma.sqrt(),
            y_norm,
            op,
            last: None,
        })
    }

    /// The damping `λ`.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    fn exact(&mut self, criterion: &'static str) -> StepInfo {
        let rr = norm_sq(sl(&self.r));
        let xx = norm_sq(sl(&self.x));
        let info = StepInfo {
            objective: Some(0.5 * (rr + self.lambda * xx)),
            rel_residual: Some(rel(rr.sqrt(), self.y_norm)),
            rel_normal_residual: Some(rel(self.gamma.sqrt(), self.s0_norm)),
            rel_change: Some(0.0),
            converged: Some(Convergence {
                criterion,
                value: self.gamma.sqrt(),
                threshold: 0.0,
            }),
        };
        self.last = Some(info.clone());
        info
    }
}

impl<O: LinearOperator> Iterative for Cgls<'_, O> {
    type Elem = O::Domain;

    fn name(&self) -> &'static str {
        "cgls"
    }

    fn step(&mut self) -> Result<StepInfo> {
        if let Some(info) = &self.last
            && info.converged.is_some()
        {
            return Ok(info.clone());
        }
        if self.gamma == 0.0 {
            return Ok(self.exact("normal_residual = 0 (exact solution)"));
        }
        self.op.apply_into(self.p.view(), self.q.view_mut());
        let qq = norm_sq(sl(&self.q));
        let pp = self.pp;
        let delta = qq + self.lambda * pp;
        if delta == 0.0 {
            // A p = 0 with p != 0 cannot happen in exact arithmetic (p lies in the range of
            // A^H); it means the search direction underflowed: nothing more to gain.
            return Ok(self.exact("breakdown: A p = 0"));
        }
        let alpha = self.gamma / delta;
        let a = alpha as f32;

        let xx = zip_sum(sl_mut(&mut self.x), sl(&self.p), |x, p| {
            *x += p * a;
            x.dot_re(*x)
        });
        let rr = zip_sum(sl_mut(&mut self.r), sl(&self.q), |r, q| {
            *r -= q * a;
            r.dot_re(*r)
        });
        self.op.adjoint_into(self.r.view(), self.s.view_mut());
        let gamma_new = if self.lambda > 0.0 {
            let l = self.lambda as f32;
            zip_sum(sl_mut(&mut self.s), sl(&self.x), |s, x| {
                *s -= x * l;
                s.dot_re(*s)
            })
        } else {
            norm_sq(sl(&self.s))
        };
        let beta = (gamma_new / self.gamma) as f32;
        let pp_new = zip_sum(sl_mut(&mut self.p), sl(&self.s), |p, s| {
            *p = s + *p * beta;
            p.dot_re(*p)
        });
        self.gamma = gamma_new;
        self.pp = pp_new;

        let info = StepInfo {
            objective: Some(0.5 * (rr + self.lambda * xx)),
            rel_residual: Some(rel(rr.sqrt(), self.y_norm)),
            rel_normal_residual: Some(rel(gamma_new.sqrt(), self.s0_norm)),
            rel_change: Some(rel(alpha * pp.sqrt(), xx.sqrt())),
            converged: (gamma_new == 0.0).then_some(Convergence {
                criterion: "normal_residual = 0 (exact solution)",
                value: 0.0,
                threshold: 0.0,
            }),
        };
        self.last = Some(info.clone());
        Ok(info)
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
    use super::super::{Driver, Stop, Termination};
    use super::*;
    use crate::ops::Identity;
    use crate::scalar::c32;
    use ndarray::{Array2, IxDyn};

    fn solve<O: LinearOperator>(
        op: &O,
        y: &ArrayD<O::Range>,
        lambda: f64,
        max_iters: usize,
    ) -> crate::solve::Report<O::Domain> {
        let mut s = Cgls::new(op, y.view(), CglsParams { lambda }).unwrap();
        Driver::new(max_iters)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .run(&mut s)
            .unwrap()
    }

    fn check<O: LinearOperator>(op: &O, seed: u64, lambda: f64) {
        let y = random_array::<O::Range>(op.range_shape(), seed);
        let want = reference(op, &y, lambda);
        let n = want.len();
        let r = solve(op, &y, lambda, 3 * n);
        assert!(
            matches!(r.termination, Termination::Converged(_)),
            "{} (n = {n})",
            r.summary()
        );
        let err = rel_err(&real_coords(&r.x), &want);
        assert!(err < 2e-5, "{}: rel error {err:.2e}", r.summary());
        // One A and one A^H per iteration, plus the A^H y of the set-up.
        assert_eq!(r.counts.forward, r.iterations as u64);
        assert_eq!(r.counts.adjoint, r.iterations as u64 + 1);
        // The objective never increases (CG minimizes it over nested Krylov spaces).
        for w in r.history.windows(2) {
            let (a, b) = (w[0].objective.unwrap(), w[1].objective.unwrap());
            assert!(b <= a * (1.0 + 1e-6), "objective rose from {a} to {b}");
        }
    }

    #[test]
    fn reaches_the_normal_equation_solution_real_complex_mixed() {
        let (a, b, c) = problems(10);
        for lambda in [0.0, 0.3] {
            check(&a, 1, lambda);
            check(&b, 2, lambda);
            check(&c, 3, lambda);
        }
    }

    #[test]
    fn reported_residuals_match_recomputed_ones() {
        let (a, _, _) = problems(20);
        let y = random_array::<f32>(&[36], 5);
        let r = solve(&a, &y, 0.0, 5);
        let res = &y - &a.apply(r.x.view());
        let want = crate::linalg::norm2(res.view()) / crate::linalg::norm2(y.view());
        let got = r.last().unwrap().rel_residual.unwrap();
        assert!((got - want).abs() < 1e-5 * want, "{got} vs {want}");
        let g = a.adjoint(res.view());
        let g0 = a.adjoint(y.view());
        let want = crate::linalg::norm2(g.view()) / crate::linalg::norm2(g0.view());
        let got = r.last().unwrap().rel_normal_residual.unwrap();
        assert!((got - want).abs() < 1e-3 * want, "{got} vs {want}");
    }

    #[test]
    fn finite_termination_on_few_distinct_singular_values() {
        // A with only 3 distinct singular values: CG converges in 3 steps.
        let d = [1.0f32, 2.0, 2.0, 3.0, 1.0, 3.0, 2.0, 1.0];
        let mut m = Array2::<f32>::zeros((8, 8));
        for (i, &v) in d.iter().enumerate() {
            m[[i, i]] = v;
        }
        let op = DenseMatrix::<f32, f32>::new(m);
        let y = random_array::<f32>(&[8], 9);
        let mut s = Cgls::new(&op, y.view(), CglsParams::default()).unwrap();
        let r = Driver::new(3).run(&mut s).unwrap();
        for i in 0..8 {
            assert!((r.x[[i]] - y[[i]] / d[i]).abs() < 1e-5);
        }
        assert!(r.last().unwrap().rel_normal_residual.unwrap() < 1e-5);
    }

    #[test]
    fn warm_start_from_the_solution_stays_there() {
        let (a, _, _) = problems(30);
        let y = random_array::<f32>(&[36], 7);
        let want = reference(&a, &y, 0.0);
        let x0 =
            ArrayD::from_shape_vec(IxDyn(&[12]), want.iter().map(|&v| v as f32).collect()).unwrap();
        let mut s = Cgls::with_x0(&a, y.view(), x0.view(), CglsParams::default()).unwrap();
        // One A (initial residual) and one A^H at set-up.
        assert_eq!(s.counts().forward, 1);
        let r = Driver::new(2).run(&mut s).unwrap();
        assert!(rel_err(&real_coords(&r.x), &want) < 1e-5);
        // And a warm start elsewhere converges to the same point.
        let x0 = random_array::<f32>(&[12], 8);
        let mut s = Cgls::with_x0(&a, y.view(), x0.view(), CglsParams::default()).unwrap();
        let r = Driver::new(40)
            .stop_when(Stop::RelNormalResidual(1e-7))
            .run(&mut s)
            .unwrap();
        assert!(rel_err(&real_coords(&r.x), &want) < 2e-5, "{}", r.summary());
    }

    #[test]
    fn exact_solutions_are_reported_as_converged() {
        let op = Identity::<c32>::new(&[3, 2]);
        let y = random_array::<c32>(&[3, 2], 3);
        let mut s = Cgls::new(&op, y.view(), CglsParams::default()).unwrap();
        let r = Driver::new(10).run(&mut s).unwrap();
        // Step 1 solves exactly (s = 0 afterwards) and says so.
        assert_eq!(r.iterations, 1, "{}", r.summary());
        assert!(
            matches!(&r.termination, Termination::Converged(c) if c.criterion.contains("exact"))
        );
        assert_eq!(r.x, y);
        assert!(
            r.summary().starts_with(
                "cgls: 1 iteration (converged: normal_residual = 0 (exact solution)), 1 A, 2 A^H, "
            ),
            "{}",
            r.summary()
        );
        // y = 0: solved before any iteration.
        let z = ArrayD::<c32>::zeros(IxDyn(&[3, 2]));
        let mut s = Cgls::new(&op, z.view(), CglsParams::default()).unwrap();
        let r = Driver::new(10).run(&mut s).unwrap();
        assert_eq!(r.iterations, 1);
        assert_eq!(r.counts.forward, 0);
    }

    #[test]
    fn invalid_inputs_are_refused() {
        let op = Identity::<f32>::new(&[4]);
        let y = ArrayD::<f32>::zeros(IxDyn(&[5]));
        assert!(Cgls::new(&op, y.view(), CglsParams::default()).is_err());
        let mut y = ArrayD::<f32>::zeros(IxDyn(&[4]));
        assert!(Cgls::new(&op, y.view(), CglsParams { lambda: -1.0 }).is_err());
        y[[1]] = f32::NAN;
        let e = Cgls::new(&op, y.view(), CglsParams::default())
            .err()
            .unwrap();
        assert!(matches!(e, crate::Error::NonFinite { count: 1, .. }));
    }
}
