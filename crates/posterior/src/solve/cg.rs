//! CG: conjugate gradients for Hermitian positive (semi)definite systems `M x = b`.

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

use super::driver::{Convergence, Iterative, StepInfo};
use super::{check_finite, norm_sq, rel, sl, sl_mut, standard, zeros, zip_sum};
use crate::error::{Error, Result};
use crate::linalg::dot;
use crate::ops::LinearOperator;
use crate::ops::counted::{Counted, OpCounts};
use crate::scalar::Scalar;

/// A self-adjoint positive (semi)definite map `M` on arrays of one shape, with respect
/// to the real inner product `Re <a, b>` (every Hermitian positive semidefinite matrix
/// qualifies, e.g. `A^H A + ρ D^H D`).
///
/// Closures `Fn(ArrayViewD<T>, ArrayViewMutD<T>)` (`out <- M x`, overwriting `out`)
/// implement it; [`NormalMap`] builds `A^H A + λI` from a [`LinearOperator`].
pub trait SpdMap<T: Scalar> {
    /// `out <- M x`; `out` is overwritten, never read.
    fn apply_into(&self, x: ArrayViewD<T>, out: ArrayViewMutD<T>);
    /// Operator applications the map has cost so far (zero unless the map counts them).
    fn counts(&self) -> OpCounts {
        OpCounts::default()
    }
}

impl<T: Scalar, F: Fn(ArrayViewD<T>, ArrayViewMutD<T>)> SpdMap<T> for F {
    fn apply_into(&self, x: ArrayViewD<T>, out: ArrayViewMutD<T>) {
        self(x, out)
    }
}

/// `M = A^H A + λ I` for a linear operator `A` (through its
/// [`normal_into`](LinearOperator::normal_into)), counting the applications of `A`.
pub struct NormalMap<'a, O: LinearOperator> {
    op: Counted<&'a O>,
    lambda: f32,
}

impl<'a, O: LinearOperator> NormalMap<'a, O> {
    /// `A^H A + λ I` with `λ >= 0`.
    pub fn new(op: &'a O, lambda: f64) -> Result<Self> {
        super::check_lambda(lambda)?;
        Ok(NormalMap {
            op: Counted::new(op),
            lambda: lambda as f32,
        })
    }
}

impl<O: LinearOperator> SpdMap<O::Domain> for NormalMap<'_, O> {
    fn apply_into(&self, x: ArrayViewD<O::Domain>, mut out: ArrayViewMutD<O::Domain>) {
        self.op.normal_into(x.view(), out.view_mut());
        if self.lambda > 0.0 {
            let l = self.lambda;
            ndarray::Zip::from(&mut out)
                .and(&x)
                .for_each(|o, &v| *o += v * l);
        }
    }
    fn counts(&self) -> OpCounts {
        self.op.counts()
    }
}

/// Parameters of [`Cg`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgParams {
    /// The method's own convergence test `‖b − M x_k‖ <= tol ‖b‖` (default 0: only an
    /// exactly vanishing residual stops it; use the driver's [`Stop`](super::Stop) rules).
    pub tol: f64,
}

impl Default for CgParams {
    fn default() -> Self {
        CgParams { tol: 0.0 }
    }
}

/// Conjugate gradients (Hestenes & Stiefel 1952) for `M x = b` with `M` self-adjoint
/// positive semidefinite, i.e. the minimization of `q(x) = ½<x, M x> − <b, x>`.
///
/// With `r = b − M x`, `p = r`, `γ = ‖r‖²`, one step is
/// ```text
/// q = M p,   δ = <p, q>,   α = γ / δ
/// x ← x + α p,   r ← r − α q,   γ' = ‖r‖²,   p ← r + (γ'/γ) p,   γ ← γ'
/// ```
/// costing one application of `M`. Iterates minimize `q` over `x_0 + K_k(M, r_0)`; the
/// reported objective is `q(x_k) = −½(<x, b> + <x, r>)`, `rel_residual` is `‖r_k‖/‖b‖`,
/// `rel_normal_residual` is `‖r_k‖/‖r_0‖` (the gradient of `q`) and `rel_change` is
/// `α‖p‖/‖x_k‖`. For semidefinite `M` with `b` in its range CG converges to a solution;
/// `δ <= 0` (a direction in the null space, or `M` not positive) stops it with a
/// `breakdown` convergence event. Inner products are real (`Re <a, b>`), so complex
/// arrays are handled as real vectors of twice the length.
///
/// Reference: M. R. Hestenes and E. Stiefel, J. Res. NBS 49 (1952) 409–436;
/// J. Nocedal and S. Wright, *Numerical Optimization*, 2nd ed., Alg. 5.2.
pub struct Cg<'a, T: Scalar, M: SpdMap<T> + ?Sized> {
    m: &'a M,
    tol: f64,
    x: ArrayD<T>,
    r: ArrayD<T>,
    p: ArrayD<T>,
    q: ArrayD<T>,
    b: ArrayD<T>,
    gamma: f64,
    b_norm: f64,
    r0_norm: f64,
    applications: u64,
    last: Option<StepInfo>,
}

impl<'a, T: Scalar, M: SpdMap<T> + ?Sized> Cg<'a, T, M> {
    /// Solve `M x = b` from `x_0 = 0`, or from `x0` when given (one extra `M`).
    pub fn new(
        m: &'a M,
        b: ArrayViewD<T>,
        x0: Option<ArrayViewD<T>>,
        params: CgParams,
    ) -> Result<Self> {
        check_finite(b.view(), "cg right-hand side b")?;
        if !(params.tol.is_finite() && params.tol >= 0.0) {
            return Err(Error::param(
                "tol",
                format!("must be finite and >= 0, got {}", params.tol),
            ));
        }
        let b = standard(b);
        let mut r = b.clone();
        let mut applications = 0;
        let x = match x0 {
            Some(x0) => {
                if x0.shape() != b.shape() {
                    return Err(Error::Shape {
                        context: "cg initial x0 (must match b)".into(),
                        expected: b.shape().to_vec(),
                        got: x0.shape().to_vec(),
                    });
                }
                check_finite(x0.view(), "cg initial x0")?;
                let x = standard(x0);
                let mut mx = zeros::<T>(b.shape());
                m.apply_into(x.view(), mx.view_mut());
                applications += 1;
                r -= &mx;
                x
            }
            None => zeros(b.shape()),
        };
        let gamma = norm_sq(sl(&r));
        Ok(Cg {
            m,
            tol: params.tol,
            p: r.clone(),
            q: zeros(b.shape()),
            b_norm: norm_sq(sl(&b)).sqrt(),
            b,
            x,
            r,
            gamma,
            r0_norm: gamma.sqrt(),
            applications,
            last: None,
        })
    }

    /// Applications of `M` so far.
    pub fn applications(&self) -> u64 {
        self.applications
    }

    /// The solution estimate, consuming the solver.
    pub fn into_x(self) -> ArrayD<T> {
        self.x
    }

    fn info(&self, rel_change: f64, converged: Option<Convergence>) -> StepInfo {
        let xb = dot(self.x.view(), self.b.view());
        let xr = dot(self.x.view(), self.r.view());
        let rn = self.gamma.sqrt();
        StepInfo {
            objective: Some(-0.5 * (xb + xr)),
            rel_residual: Some(rel(rn, self.b_norm)),
            rel_normal_residual: Some(rel(rn, self.r0_norm)),
            rel_change: Some(rel_change),
            converged,
        }
    }

    fn own_test(&self) -> Option<Convergence> {
        let rn = self.gamma.sqrt();
        if rn == 0.0 {
            Some(Convergence {
                criterion: "residual = 0 (exact solution)",
                value: 0.0,
                threshold: 0.0,
            })
        } else if self.tol > 0.0 && rn <= self.tol * self.b_norm {
            Some(Convergence {
                criterion: "cg rel_residual",
                value: rel(rn, self.b_norm),
                threshold: self.tol,
            })
        } else {
            None
        }
    }
}

impl<T: Scalar, M: SpdMap<T> + ?Sized> Iterative for Cg<'_, T, M> {
    type Elem = T;

    fn name(&self) -> &'static str {
        "cg"
    }

    fn step(&mut self) -> Result<StepInfo> {
        if let Some(info) = &self.last
            && info.converged.is_some()
        {
            return Ok(info.clone());
        }
        if let Some(c) = self.own_test() {
            let info = self.info(0.0, Some(c));
            self.last = Some(info.clone());
            return Ok(info);
        }
        self.m.apply_into(self.p.view(), self.q.view_mut());
        self.applications += 1;
        let delta = dot(self.p.view(), self.q.view());
        if delta.is_nan() || delta <= 0.0 {
            let info = self.info(
                0.0,
                Some(Convergence {
                    criterion: "breakdown: <p, M p> <= 0",
                    value: delta,
                    threshold: 0.0,
                }),
            );
            self.last = Some(info.clone());
            return Ok(info);
        }
        let alpha = self.gamma / delta;
        let a = alpha as f32;
        let xx = zip_sum(sl_mut(&mut self.x), sl(&self.p), |x, p| {
            *x += p * a;
            x.dot_re(*x)
        });
        let pp = norm_sq(sl(&self.p));
        let gamma_new = zip_sum(sl_mut(&mut self.r), sl(&self.q), |r, q| {
            *r -= q * a;
            r.dot_re(*r)
        });
        let beta = (gamma_new / self.gamma) as f32;
        zip_sum(sl_mut(&mut self.p), sl(&self.r), |p, r| {
            *p = r + *p * beta;
            0.0
        });
        self.gamma = gamma_new;
        let info = self.info(rel(alpha * pp.sqrt(), xx.sqrt()), self.own_test());
        self.last = Some(info.clone());
        Ok(info)
    }

    fn current(&self) -> ArrayViewD<'_, T> {
        self.x.view()
    }

    fn counts(&self) -> OpCounts {
        self.m.counts()
    }
}

/// Conjugate gradients for `M x = b` without the driver, for inner solves: from `x0`
/// (warm start; zero when `None`) until `‖b − M x‖ <= tol ‖b‖` or `max_iters`
/// applications of `M`. Returns the solution estimate and the number of iterations.
/// `apply_m(x, out)` must write `out <- M x` with `M` self-adjoint positive semidefinite;
/// a breakdown (`<p, M p> <= 0`) ends the iteration with the current estimate.
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use posterior::solve::cg_solve;
/// // M = diag(1, 2, 4): three distinct eigenvalues, so three CG steps are exact.
/// let d = [1.0f32, 2.0, 4.0];
/// let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0f32, 1.0, 1.0]).unwrap();
/// let (x, iters) = cg_solve(
///     |x: ndarray::ArrayViewD<f32>, mut out: ndarray::ArrayViewMutD<f32>| {
///         for i in 0..3 { out[[i]] = d[i] * x[[i]]; }
///     },
///     b.view(), None, 10, 1e-6);
/// assert!(iters <= 3);
/// assert!((x[[2]] - 0.25).abs() < 1e-6);
/// ```
pub fn cg_solve<T: Scalar>(
    apply_m: impl Fn(ArrayViewD<T>, ArrayViewMutD<T>),
    b: ArrayViewD<T>,
    x0: Option<ArrayViewD<T>>,
    max_iters: usize,
    tol: f64,
) -> (ArrayD<T>, usize) {
    let warm = x0.is_some();
    let mut x = match x0 {
        Some(x0) => standard(x0),
        None => zeros(b.shape()),
    };
    let iters = cg_solve_into(&apply_m, b, &mut x, max_iters, tol, warm);
    (x, iters)
}

/// In-place variant of [`cg_solve`]: `x` holds the start (used when `warm`, else zeroed)
/// and receives the estimate. Returns the number of iterations.
pub fn cg_solve_into<T: Scalar>(
    apply_m: &dyn Fn(ArrayViewD<T>, ArrayViewMutD<T>),
    b: ArrayViewD<T>,
    x: &mut ArrayD<T>,
    max_iters: usize,
    tol: f64,
    warm: bool,
) -> usize {
    assert_eq!(x.shape(), b.shape(), "cg_solve: x and b shapes differ");
    if !x.is_standard_layout() {
        *x = standard(x.view());
    }
    let b = standard(b);
    let b_norm = norm_sq(sl(&b)).sqrt();
    let mut r = b.clone();
    if warm {
        let mut mx = zeros::<T>(b.shape());
        apply_m(x.view(), mx.view_mut());
        r -= &mx;
    } else {
        x.fill(T::zero());
    }
    let mut gamma = norm_sq(sl(&r));
    let threshold = tol * b_norm;
    let mut p = r.clone();
    let mut q = zeros::<T>(b.shape());
    let mut k = 0;
    while k < max_iters && gamma.sqrt() > threshold && gamma > 0.0 {
        apply_m(p.view(), q.view_mut());
        k += 1;
        let delta = dot(p.view(), q.view());
        if delta.is_nan() || delta <= 0.0 {
            break;
        }
        let a = (gamma / delta) as f32;
        zip_sum(sl_mut(x), sl(&p), |x, p| {
            *x += p * a;
            0.0
        });
        let gamma_new = zip_sum(sl_mut(&mut r), sl(&q), |r, q| {
            *r -= q * a;
            r.dot_re(*r)
        });
        let beta = (gamma_new / gamma) as f32;
        zip_sum(sl_mut(&mut p), sl(&r), |p, r| {
            *p = r + *p * beta;
            0.0
        });
        gamma = gamma_new;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Driver, Stop, Termination};
    use super::*;
    use crate::scalar::c32;

    #[test]
    fn cg_on_normal_equations_matches_cholesky_real_and_complex() {
        let (a, b, c) = problems(40);
        fn check<O: LinearOperator>(op: &O, seed: u64, lambda: f64) {
            let y = random_array::<O::Range>(op.range_shape(), seed);
            let want = reference(op, &y, lambda);
            let rhs = op.adjoint(y.view());
            let m = NormalMap::new(op, lambda).unwrap();
            let mut s = Cg::new(&m, rhs.view(), None, CgParams::default()).unwrap();
            let r = Driver::new(200)
                .stop_when(Stop::RelResidual(1e-6))
                .run(&mut s)
                .unwrap();
            assert!(
                matches!(r.termination, Termination::Converged(_)),
                "{}",
                r.summary()
            );
            let err = rel_err(&real_coords(&r.x), &want);
            assert!(err < 2e-5, "{}: {err:.2e}", r.summary());
            // One A and one A^H per iteration (M = A^H A + λI).
            assert_eq!(r.counts.forward, r.iterations as u64);
            for w in r.history.windows(2) {
                let (p, q) = (w[0].objective.unwrap(), w[1].objective.unwrap());
                assert!(q <= p + 1e-6 * p.abs(), "objective rose {p} -> {q}");
            }
            // The plain function agrees.
            let (x, it) = cg_solve(
                |v: ArrayViewD<O::Domain>, o: ArrayViewMutD<O::Domain>| m.apply_into(v, o),
                rhs.view(),
                None,
                200,
                1e-7,
            );
            assert!(it < 200);
            assert!(rel_err(&real_coords(&x), &want) < 2e-5);
        }
        check(&a, 1, 0.0);
        check(&a, 2, 0.5);
        check(&b, 3, 0.1);
        check(&c, 4, 0.2);
    }

    #[test]
    fn objective_and_residual_reports_are_exact() {
        let (a, _, _) = problems(41);
        let y = random_array::<f32>(&[36], 5);
        let rhs = a.adjoint(y.view());
        let m = NormalMap::new(&a, 0.0).unwrap();
        let x0 = random_array::<f32>(&[12], 6);
        let mut s = Cg::new(&m, rhs.view(), Some(x0.view()), CgParams::default()).unwrap();
        let r = Driver::new(4).run(&mut s).unwrap();
        let mut mx = zeros::<f32>(&[12]);
        m.apply_into(r.x.view(), mx.view_mut());
        let q = 0.5 * dot(r.x.view(), mx.view()) - dot(r.x.view(), rhs.view());
        let got = r.last().unwrap().objective.unwrap();
        assert!((got - q).abs() < 1e-5 * q.abs(), "{got} vs {q}");
        let res = &rhs - &mx;
        let want = crate::linalg::norm2(res.view()) / crate::linalg::norm2(rhs.view());
        let got = r.last().unwrap().rel_residual.unwrap();
        assert!((got - want).abs() < 1e-3 * want, "{got} vs {want}");
    }

    #[test]
    fn finite_termination_and_semidefinite_breakdown() {
        // Three distinct eigenvalues: exact after three steps.
        let d = [1.0f32, 2.0, 2.0, 3.0, 1.0, 3.0];
        let m = move |x: ArrayViewD<f32>, mut o: ArrayViewMutD<f32>| {
            for i in 0..6 {
                o[[i]] = d[i] * x[[i]];
            }
        };
        let b = random_array::<f32>(&[6], 3);
        let mut s = Cg::new(&m, b.view(), None, CgParams { tol: 1e-6 }).unwrap();
        let r = Driver::new(10).run(&mut s).unwrap();
        assert!(r.iterations <= 4, "{}", r.summary());
        assert!(matches!(r.termination, Termination::Converged(_)));
        for i in 0..6 {
            assert!((r.x[[i]] - b[[i]] / d[i]).abs() < 1e-5);
        }
        // Semidefinite M = diag(1, 0) with b in its range converges; b outside the range
        // is detected (no NaN, no panic).
        let m = |x: ArrayViewD<c32>, mut o: ArrayViewMutD<c32>| {
            o[[0]] = x[[0]];
            o[[1]] = c32::new(0.0, 0.0);
        };
        let b = ArrayD::from_shape_vec(
            ndarray::IxDyn(&[2]),
            vec![c32::new(2.0, -1.0), c32::new(0.0, 0.0)],
        )
        .unwrap();
        let (x, it) = cg_solve(m, b.view(), None, 10, 0.0);
        assert_eq!(it, 1);
        assert_eq!(x[[0]], c32::new(2.0, -1.0));
        let b = ArrayD::from_shape_vec(
            ndarray::IxDyn(&[2]),
            vec![c32::new(0.0, 0.0), c32::new(1.0, 0.0)],
        )
        .unwrap();
        let mut s = Cg::new(&m, b.view(), None, CgParams::default()).unwrap();
        let r = Driver::new(10).run(&mut s).unwrap();
        assert!(
            matches!(&r.termination, Termination::Converged(c) if c.criterion.contains("breakdown")),
            "{}",
            r.summary()
        );
    }

    #[test]
    fn invalid_inputs_are_refused() {
        let m = |x: ArrayViewD<f32>, mut o: ArrayViewMutD<f32>| o.assign(&x);
        let mut b = ArrayD::<f32>::zeros(ndarray::IxDyn(&[3]));
        let x0 = ArrayD::<f32>::zeros(ndarray::IxDyn(&[4]));
        assert!(Cg::new(&m, b.view(), Some(x0.view()), CgParams::default()).is_err());
        assert!(Cg::new(&m, b.view(), None, CgParams { tol: -1.0 }).is_err());
        b[[0]] = f32::NAN;
        assert!(Cg::new(&m, b.view(), None, CgParams::default()).is_err());
    }
}
