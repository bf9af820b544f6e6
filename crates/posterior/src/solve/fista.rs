//! ISTA and FISTA: proximal gradient methods for `min_x f(x) + g(x)`.

use ndarray::{ArrayD, ArrayViewD};

use super::driver::{Convergence, Iterative, StepInfo};
use super::{check_finite, norm_sq, rel, sl, sl_mut, standard, zeros};
use crate::error::{Error, Result};
use crate::ops::counted::OpCounts;
use crate::prox::{Functional, Gradient, Prox};
use crate::scalar::Scalar;

/// Adaptive restart of the FISTA momentum (O'Donoghue & Candès 2015).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Plain FISTA (the default).
    #[default]
    None,
    /// Gradient scheme: restart when `<y_k − x_{k+1}, x_{k+1} − x_k> > 0`, i.e. when the
    /// momentum points against the (generalized) descent direction. Costs nothing.
    Gradient,
    /// Function scheme: restart when `F(x_{k+1}) > F(x_k)`. Needs the objective
    /// ([`Fista::with_objective`]); refused otherwise.
    Function,
}

/// Parameters of [`Fista`] and [`Ista`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FistaParams {
    /// Lipschitz constant `L` of `∇f` (the step is `1/L`). `None` (default) takes
    /// [`Gradient::lipschitz`]; with backtracking it is the initial estimate (and when
    /// neither is known, a secant estimate at `x_0` is used).
    pub lipschitz: Option<f64>,
    /// Backtracking growth factor `η > 1` (default 2): `L ← η L` until the sufficient
    /// decrease condition holds. Used only by the backtracking constructors.
    pub eta: f64,
    /// Momentum restart (default none; ignored by ISTA).
    pub restart: Restart,
}

impl Default for FistaParams {
    fn default() -> Self {
        FistaParams {
            lipschitz: None,
            eta: 2.0,
            restart: Restart::None,
        }
    }
}

/// FISTA (Beck & Teboulle 2009) for `min_x F(x) = f(x) + g(x)` with `f` convex and
/// `L`-smooth ([`Gradient`]) and `g` convex with a proximal operator ([`Prox`]).
///
/// One step, with `t_1 = 1`, `y_1 = x_0`:
/// ```text
/// x_k = prox_{g/L}(y_k − ∇f(y_k)/L)
/// t_{k+1} = (1 + sqrt(1 + 4 t_k²)) / 2
/// y_{k+1} = x_k + ((t_k − 1)/t_{k+1}) (x_k − x_{k−1})
/// ```
/// giving `F(x_k) − F* <= 2L‖x_0 − x*‖² / (k+1)²`. With backtracking
/// ([`Fista::backtracking`], needs `f` as a [`Functional`]) `L` is multiplied by `η` until
/// `f(x_k) <= f(y_k) + <x_k − y_k, ∇f(y_k)> + L/2 ‖x_k − y_k‖²`. When `f(x_k) − f(y_k)` is within `1e-3 |f|` (where f32 round-off can make the
/// value test fail spuriously) the curvature test `‖∇f(x_k) − ∇f(y_k)‖ <= L‖x_k − y_k‖`
/// is used instead; `L` never decreases. Optional adaptive restart
/// ([`Restart`], O'Donoghue & Candès 2015) resets `t = 1` and `y = x_k`, which recovers
/// linear convergence on strongly convex problems.
///
/// Reported per step: `rel_change = ‖x_k − x_{k−1}‖/‖x_k‖`; `rel_normal_residual` the
/// gradient-mapping norm `L‖y_k − x_k‖` relative to its first value (zero exactly at a
/// minimizer); `objective = f(x_k) + g(x_k)` only when both values were supplied
/// ([`Fista::with_objective`]; one extra `f` evaluation per step). Operator counts are
/// those of `f`'s own operator and are not visible here: [`Iterative::counts`] is zero.
///
/// References: A. Beck and M. Teboulle, SIAM J. Imaging Sci. 2 (2009) 183–202;
/// B. O'Donoghue and E. Candès, Found. Comput. Math. 15 (2015) 715–732.
pub struct Fista<'a, T: Scalar> {
    f: &'a dyn Gradient<T>,
    f_value: Option<&'a dyn Functional<T>>,
    g: &'a dyn Prox<T>,
    g_value: Option<&'a dyn Functional<T>>,
    backtrack: bool,
    accelerate: bool,
    restart: Restart,
    eta: f64,
    l: f64,
    t: f64,
    x: ArrayD<T>,
    x_prev: ArrayD<T>,
    y: ArrayD<T>,
    grad: ArrayD<T>,
    v: ArrayD<T>,
    mapping0: Option<f64>,
    objective: Option<f64>,
    restarts: usize,
    backtracks: usize,
}

impl<'a, T: Scalar> Fista<'a, T> {
    /// Constant step `1/L` with `L` from `params.lipschitz` or else `f.lipschitz()`.
    pub fn new(
        f: &'a dyn Gradient<T>,
        g: &'a dyn Prox<T>,
        x0: ArrayViewD<T>,
        params: FistaParams,
    ) -> Result<Self> {
        let l = params.lipschitz.or(f.lipschitz()).ok_or_else(|| {
            Error::param(
                "lipschitz",
                "f has no known Lipschitz constant: give `lipschitz` or use backtracking",
            )
        })?;
        Self::build(f, None, g, x0, params, l, false)
    }

    /// Backtracking line search (Beck & Teboulle's BT rule): `f` must also be a
    /// [`Functional`]. The initial `L` is `params.lipschitz`, else `f.lipschitz()`, else
    /// a secant estimate `‖∇f(x_0 + d) − ∇f(x_0)‖/‖d‖` along `d ∝ −∇f(x_0)`.
    pub fn backtracking<F: Functional<T> + Gradient<T>>(
        f: &'a F,
        g: &'a dyn Prox<T>,
        x0: ArrayViewD<T>,
        params: FistaParams,
    ) -> Result<Self> {
        if !(params.eta > 1.0 && params.eta.is_finite()) {
            return Err(Error::param(
                "eta",
                format!("backtracking factor must be > 1, got {}", params.eta),
            ));
        }
        check_finite(x0.view(), "fista initial x0")?;
        let l = match params.lipschitz.or(f.lipschitz()) {
            Some(l) => l,
            None => secant_lipschitz(f, x0.view()),
        };
        Self::build(f, Some(f), g, x0, params, l, true)
    }

    fn build(
        f: &'a dyn Gradient<T>,
        f_value: Option<&'a dyn Functional<T>>,
        g: &'a dyn Prox<T>,
        x0: ArrayViewD<T>,
        params: FistaParams,
        l: f64,
        backtrack: bool,
    ) -> Result<Self> {
        if !(l > 0.0 && l.is_finite()) {
            return Err(Error::param(
                "lipschitz",
                format!("must be finite and > 0, got {l}"),
            ));
        }
        check_finite(x0.view(), "fista initial x0")?;
        let x = standard(x0);
        Ok(Fista {
            f,
            f_value,
            g,
            g_value: None,
            backtrack,
            accelerate: true,
            restart: params.restart,
            eta: params.eta,
            l,
            t: 1.0,
            x_prev: x.clone(),
            y: x.clone(),
            grad: zeros(x.shape()),
            v: zeros(x.shape()),
            x,
            mapping0: None,
            objective: None,
            restarts: 0,
            backtracks: 0,
        })
    }

    /// Report the objective `f(x_k) + g(x_k)` (and enable [`Restart::Function`]): `f_value`
    /// must be the value of the same `f` whose gradient is used, `g_value` that of `g`.
    pub fn with_objective(
        mut self,
        f_value: &'a dyn Functional<T>,
        g_value: &'a dyn Functional<T>,
    ) -> Self {
        self.f_value = Some(f_value);
        self.g_value = Some(g_value);
        self
    }

    /// The current Lipschitz estimate `L` (the step is `1/L`).
    pub fn lipschitz(&self) -> f64 {
        self.l
    }

    /// Number of momentum restarts so far.
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// Number of backtracking increases of `L` so far.
    pub fn backtracks(&self) -> usize {
        self.backtracks
    }

    fn objective_at_x(&self) -> Option<f64> {
        match (self.f_value, self.g_value) {
            (Some(f), Some(g)) => Some(f.value(self.x.view()) + g.value(self.x.view())),
            _ => None,
        }
    }

    /// `x <- prox_{g/L}(y − ∇f(y)/L)` (grad holds `∇f(y)`); returns `‖x − y‖²`.
    fn forward_backward(&mut self) -> f64 {
        let s = (1.0 / self.l) as f32;
        ndarray::Zip::from(&mut self.v)
            .and(&self.y)
            .and(&self.grad)
            .for_each(|v, &y, &g| *v = y - g * s);
        self.g.prox_into(self.v.view(), s, self.x.view_mut());
        let mut d = 0.0;
        ndarray::Zip::from(&self.x)
            .and(&self.y)
            .for_each(|&x, &y| d += (x - y).abs2() as f64);
        d
    }

    fn do_step(&mut self) -> Result<StepInfo> {
        if self.restart == Restart::Function && self.objective.is_none() {
            self.objective = self.objective_at_x();
            if self.objective.is_none() {
                return Err(Error::param(
                    "restart",
                    "the function restart scheme needs the objective (with_objective)",
                ));
            }
        }
        std::mem::swap(&mut self.x, &mut self.x_prev);
        self.f.gradient_into(self.y.view(), self.grad.view_mut());
        let mut dd = self.forward_backward();
        if self.backtrack {
            let f = self.f_value.expect("backtracking has f's value");
            let fy = f.value(self.y.view());
            loop {
                let fx = f.value(self.x.view());
                let mut lin = 0.0;
                ndarray::Zip::from(&self.x)
                    .and(&self.y)
                    .and(&self.grad)
                    .for_each(|&x, &y, &g| lin += (x - y).dot_re(g));
                let excess = fx - (fy + lin + 0.5 * self.l * dd);
                if excess <= 0.0 {
                    break;
                }
                if !fx.is_finite() && !fy.is_finite() {
                    return Err(Error::NonFinite {
                        what: "fista: f(y) during backtracking".into(),
                        count: 1,
                    });
                }
                // Near convergence `f(x) − f(y)` is at the level of f32 round-off and the
                // value test fails spuriously; there the local curvature test
                // `‖∇f(x) − ∇f(y)‖ <= L ‖x − y‖` decides instead (one extra gradient).
                if fx.is_finite() && (fx - fy).abs() <= 1e-3 * fy.abs().max(fx.abs()) {
                    let gx = self.f.gradient(self.x.view());
                    let mut gd = 0.0;
                    ndarray::Zip::from(&gx)
                        .and(&self.grad)
                        .for_each(|&a, &b| gd += (a - b).abs2() as f64);
                    if gd <= self.l * self.l * dd {
                        break;
                    }
                }
                self.l *= self.eta;
                self.backtracks += 1;
                if !self.l.is_finite() {
                    return Err(Error::Diverged {
                        solver: "fista".into(),
                        iteration: 0,
                        reason: "backtracking: Lipschitz estimate overflowed".into(),
                    });
                }
                dd = self.forward_backward();
            }
        }
        let mapping = self.l * dd.sqrt();
        let m0 = *self.mapping0.get_or_insert(mapping);
        let objective = self.objective_at_x();

        // Momentum.
        let x = sl(&self.x);
        let xp = sl(&self.x_prev);
        let mut change = 0.0;
        let mut restart = false;
        if self.accelerate {
            let mut inner = 0.0;
            for ((&a, &b), &y) in x.iter().zip(xp).zip(sl(&self.y)) {
                let d = a - b;
                change += d.abs2() as f64;
                inner += (y - a).dot_re(d);
            }
            restart = match self.restart {
                Restart::None => false,
                Restart::Gradient => inner > 0.0,
                Restart::Function => match (objective, self.objective) {
                    (Some(new), Some(old)) => new > old,
                    _ => false,
                },
            };
        } else {
            change = x.iter().zip(xp).map(|(&a, &b)| (a - b).abs2() as f64).sum();
        }
        let xx = norm_sq(x);
        if self.accelerate && !restart {
            let t_new = 0.5 * (1.0 + (1.0 + 4.0 * self.t * self.t).sqrt());
            let beta = ((self.t - 1.0) / t_new) as f32;
            self.t = t_new;
            let y = sl_mut(&mut self.y);
            for ((y, &a), &b) in y.iter_mut().zip(x).zip(xp) {
                *y = a + (a - b) * beta;
            }
        } else {
            if restart {
                self.restarts += 1;
                self.t = 1.0;
            }
            self.y.assign(&self.x);
        }
        self.objective = objective;
        Ok(StepInfo {
            objective,
            rel_residual: None,
            rel_normal_residual: Some(rel(mapping, m0)),
            rel_change: Some(rel(change.sqrt(), xx.sqrt())),
            converged: (mapping == 0.0).then_some(Convergence {
                criterion: "gradient mapping = 0 (fixed point)",
                value: 0.0,
                threshold: 0.0,
            }),
        })
    }
}

/// A secant estimate of the Lipschitz constant of `∇f` at `x0` (a lower bound on `L`):
/// `‖∇f(x0 + d) − ∇f(x0)‖ / ‖d‖` along `d ∝ −∇f(x0)` (a fixed direction when the
/// gradient vanishes), with `‖d‖ = 1e-2 max(‖x0‖, 1)`. Falls back to 1.
fn secant_lipschitz<T: Scalar>(f: &dyn Gradient<T>, x0: ArrayViewD<T>) -> f64 {
    let g0 = f.gradient(x0.view());
    let gn = crate::linalg::norm2(g0.view());
    let xn = crate::linalg::norm2(x0.view());
    let h = 1e-2 * xn.max(1.0);
    let mut d = if gn > 0.0 {
        g0.mapv(|v| v * (-(h / gn) as f32))
    } else {
        let n = x0.len().max(1) as f64;
        ArrayD::from_elem(x0.raw_dim(), T::from_real((h / n.sqrt()) as f32))
    };
    let dn = crate::linalg::norm2(d.view());
    d += &x0;
    let g1 = f.gradient(d.view());
    let diff = crate::linalg::norm2((&g1 - &g0).view());
    let l = diff / dn;
    if l > 0.0 && l.is_finite() { l } else { 1.0 }
}

impl<T: Scalar> Iterative for Fista<'_, T> {
    type Elem = T;
    fn name(&self) -> &'static str {
        if self.accelerate { "fista" } else { "ista" }
    }
    fn step(&mut self) -> Result<StepInfo> {
        self.do_step()
    }
    fn current(&self) -> ArrayViewD<'_, T> {
        self.x.view()
    }
    fn counts(&self) -> OpCounts {
        OpCounts::default()
    }
}

/// ISTA (proximal gradient, forward–backward splitting) for `min_x f(x) + g(x)`:
/// `x_{k+1} = prox_{g/L}(x_k − ∇f(x_k)/L)`, with `F(x_k) − F* <= L‖x_0 − x*‖² / (2k)`.
/// The same options as [`Fista`] (constant step or backtracking, objective reporting)
/// without the momentum; `restart` is ignored.
///
/// Reference: P. L. Combettes and V. R. Wajs, Multiscale Model. Simul. 4 (2005);
/// A. Beck and M. Teboulle, SIAM J. Imaging Sci. 2 (2009).
pub struct Ista<'a, T: Scalar>(Fista<'a, T>);

impl<'a, T: Scalar> Ista<'a, T> {
    /// Constant step `1/L` (see [`Fista::new`]).
    pub fn new(
        f: &'a dyn Gradient<T>,
        g: &'a dyn Prox<T>,
        x0: ArrayViewD<T>,
        params: FistaParams,
    ) -> Result<Self> {
        let mut s = Fista::new(f, g, x0, params)?;
        s.accelerate = false;
        s.restart = Restart::None;
        Ok(Ista(s))
    }

    /// Backtracking step (see [`Fista::backtracking`]).
    pub fn backtracking<F: Functional<T> + Gradient<T>>(
        f: &'a F,
        g: &'a dyn Prox<T>,
        x0: ArrayViewD<T>,
        params: FistaParams,
    ) -> Result<Self> {
        let mut s = Fista::backtracking(f, g, x0, params)?;
        s.accelerate = false;
        s.restart = Restart::None;
        Ok(Ista(s))
    }

    /// Report the objective `f(x_k) + g(x_k)` (see [`Fista::with_objective`]).
    pub fn with_objective(
        self,
        f_value: &'a dyn Functional<T>,
        g_value: &'a dyn Functional<T>,
    ) -> Self {
        Ista(self.0.with_objective(f_value, g_value))
    }

    /// The current Lipschitz estimate `L`.
    pub fn lipschitz(&self) -> f64 {
        self.0.l
    }
}

impl<T: Scalar> Iterative for Ista<'_, T> {
    type Elem = T;
    fn name(&self) -> &'static str {
        "ista"
    }
    fn step(&mut self) -> Result<StepInfo> {
        self.0.do_step()
    }
    fn current(&self) -> ArrayViewD<'_, T> {
        self.0.x.view()
    }
    fn counts(&self) -> OpCounts {
        OpCounts::default()
    }
}

#[cfg(test)]
#[allow(dead_code)] // reason: shared by the splitting-method tests; not every helper is used by each
pub(crate) mod test_problems {
    //! Tiny local functionals for the solver tests: `½‖A x − y‖²` with a dense matrix,
    //! `λ‖x‖₁`, `λ/2‖x‖²`, a box indicator, and the LASSO optimality check.

    use super::super::testing::DenseMatrix;
    use crate::ops::LinearOperator;
    use crate::prox::{Functional, Gradient, Prox};
    use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Zip};

    /// `½‖A x − y‖²`.
    pub struct Ls<'a> {
        pub a: &'a DenseMatrix<f32, f32>,
        pub y: ArrayD<f32>,
        pub l: f64,
    }

    impl<'a> Ls<'a> {
        pub fn new(a: &'a DenseMatrix<f32, f32>, y: ArrayD<f32>) -> Self {
            let s = crate::ops::norm_estimate(a, 500, 1);
            Ls {
                a,
                y,
                l: s * s * 1.0001,
            }
        }
    }

    impl Functional<f32> for Ls<'_> {
        fn value(&self, x: ArrayViewD<f32>) -> f64 {
            let r = &self.a.apply(x) - &self.y;
            0.5 * r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>()
        }
    }

    impl Gradient<f32> for Ls<'_> {
        fn gradient_into(&self, x: ArrayViewD<f32>, out: ArrayViewMutD<f32>) {
            let r = &self.a.apply(x) - &self.y;
            self.a.adjoint_into(r.view(), out);
        }
        fn lipschitz(&self) -> Option<f64> {
            Some(self.l)
        }
    }

    /// The same least-squares term with no known Lipschitz constant.
    pub struct LsNoL<'a>(pub Ls<'a>);

    impl Functional<f32> for LsNoL<'_> {
        fn value(&self, x: ArrayViewD<f32>) -> f64 {
            self.0.value(x)
        }
    }

    impl Gradient<f32> for LsNoL<'_> {
        fn gradient_into(&self, x: ArrayViewD<f32>, out: ArrayViewMutD<f32>) {
            self.0.gradient_into(x, out)
        }
        fn lipschitz(&self) -> Option<f64> {
            None
        }
    }

    /// `λ‖x‖₁` with the soft-threshold prox.
    pub struct L1(pub f32);

    impl Functional<f32> for L1 {
        fn value(&self, x: ArrayViewD<f32>) -> f64 {
            self.0 as f64 * x.iter().map(|&v| v.abs() as f64).sum::<f64>()
        }
    }

    impl Prox<f32> for L1 {
        fn prox_into(&self, v: ArrayViewD<f32>, tau: f32, mut out: ArrayViewMutD<f32>) {
            let t = tau * self.0;
            Zip::from(&mut out)
                .and(&v)
                .for_each(|o, &a| *o = a.signum() * (a.abs() - t).max(0.0));
        }
    }

    /// `λ/2 ‖x‖²`.
    pub struct Sq(pub f32);

    impl Functional<f32> for Sq {
        fn value(&self, x: ArrayViewD<f32>) -> f64 {
            0.5 * self.0 as f64 * x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>()
        }
    }

    impl Prox<f32> for Sq {
        fn prox_into(&self, v: ArrayViewD<f32>, tau: f32, mut out: ArrayViewMutD<f32>) {
            let s = 1.0 / (1.0 + tau * self.0);
            Zip::from(&mut out).and(&v).for_each(|o, &a| *o = a * s);
        }
    }

    /// The indicator of `[lo, hi]` (projection prox).
    pub struct BoxSet(pub f32, pub f32);

    impl Functional<f32> for BoxSet {
        fn value(&self, x: ArrayViewD<f32>) -> f64 {
            if x.iter().all(|&v| v >= self.0 && v <= self.1) {
                0.0
            } else {
                f64::INFINITY
            }
        }
    }

    impl Prox<f32> for BoxSet {
        fn prox_into(&self, v: ArrayViewD<f32>, _tau: f32, mut out: ArrayViewMutD<f32>) {
            Zip::from(&mut out)
                .and(&v)
                .for_each(|o, &a| *o = a.clamp(self.0, self.1));
        }
    }

    /// `½‖u − y‖²` on the range (for splitting `g(A x)`).
    pub struct Fit(pub ArrayD<f32>);

    impl Functional<f32> for Fit {
        fn value(&self, u: ArrayViewD<f32>) -> f64 {
            0.5 * Zip::from(&u)
                .and(&self.0)
                .fold(0.0, |s, &a, &b| s + ((a - b) as f64).powi(2))
        }
    }

    impl Prox<f32> for Fit {
        fn prox_into(&self, v: ArrayViewD<f32>, tau: f32, mut out: ArrayViewMutD<f32>) {
            Zip::from(&mut out)
                .and(&v)
                .and(&self.0)
                .for_each(|o, &a, &b| *o = (a + tau * b) / (1.0 + tau));
        }
    }

    /// A LASSO instance: 30 x 20 Gaussian matrix, sparse truth, noise.
    pub fn lasso(seed: u64) -> (DenseMatrix<f32, f32>, ArrayD<f32>, f32) {
        let a = DenseMatrix::<f32, f32>::random(30, 20, seed);
        let mut xt = ArrayD::<f32>::zeros(ndarray::IxDyn(&[20]));
        for (i, v) in [(2usize, 1.5f32), (7, -2.0), (11, 0.8), (16, 1.2)] {
            xt[[i]] = v;
        }
        let noise = super::super::testing::random_array::<f32>(&[30], seed + 100);
        let y = &a.apply(xt.view()) + &noise.mapv(|v| 0.05 * v);
        (a, y, 0.1)
    }

    /// Worst violation of the LASSO optimality conditions `0 ∈ A^T(A x − y) + λ ∂‖x‖₁`,
    /// relative to `λ`, computed in f64: for `x_i ≠ 0`, `|g_i + λ sign(x_i)|`; for
    /// `x_i = 0`, `max(|g_i| − λ, 0)`.
    pub fn lasso_kkt(
        a: &DenseMatrix<f32, f32>,
        y: &ArrayD<f32>,
        lambda: f32,
        x: &ArrayD<f32>,
    ) -> f64 {
        let m = a.m.mapv(|v| v as f64);
        let xv = ndarray::Array1::from_iter(x.iter().map(|&v| v as f64));
        let yv = ndarray::Array1::from_iter(y.iter().map(|&v| v as f64));
        let g = m.t().dot(&(m.dot(&xv) - yv));
        let l = lambda as f64;
        let mut worst: f64 = 0.0;
        for (i, &gi) in g.iter().enumerate() {
            let v = if xv[i] != 0.0 {
                (gi + l * xv[i].signum()).abs()
            } else {
                (gi.abs() - l).max(0.0)
            };
            worst = worst.max(v / l);
        }
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Driver, Stop, Termination};
    use super::test_problems::*;
    use super::*;

    #[test]
    fn tikhonov_matches_normal_equations() {
        let (a, _, _) = problems(50);
        let y = random_array::<f32>(&[36], 1);
        let want = reference(&a, &y, 0.5);
        let f = Ls::new(&a, y.clone());
        let g = Sq(0.5);
        let x0 = zeros::<f32>(&[12]);
        for restart in [Restart::None, Restart::Gradient, Restart::Function] {
            let p = FistaParams {
                restart,
                ..FistaParams::default()
            };
            let mut s = Fista::new(&f, &g, x0.view(), p)
                .unwrap()
                .with_objective(&f, &g);
            let r = Driver::new(2000)
                .stop_when(Stop::RelNormalResidual(1e-6))
                .run(&mut s)
                .unwrap();
            let err = rel_err(&real_coords(&r.x), &want);
            assert!(err < 1e-5, "{restart:?}: {}: {err:.2e}", r.summary());
        }
        let mut s = Ista::new(&f, &g, x0.view(), FistaParams::default()).unwrap();
        let r = Driver::new(5000)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .run(&mut s)
            .unwrap();
        assert!(rel_err(&real_coords(&r.x), &want) < 1e-5, "{}", r.summary());
    }

    #[test]
    fn lasso_meets_optimality_conditions() {
        let (a, y, lambda) = lasso(7);
        let f = Ls::new(&a, y.clone());
        let g = L1(lambda);
        let x0 = zeros::<f32>(&[20]);
        let mut s = Fista::new(
            &f,
            &g,
            x0.view(),
            FistaParams {
                restart: Restart::Gradient,
                ..Default::default()
            },
        )
        .unwrap();
        let r = Driver::new(5000)
            .stop_when(Stop::RelNormalResidual(1e-7))
            .run(&mut s)
            .unwrap();
        let kkt = lasso_kkt(&a, &y, lambda, &r.x);
        assert!(kkt < 1e-4, "{}: kkt {kkt:.2e}", r.summary());
        // A nontrivial support: some zeros, some nonzeros.
        let nnz = r.x.iter().filter(|&&v| v != 0.0).count();
        assert!((3..20).contains(&nnz), "nnz {nnz}");
        let mut s = Ista::new(&f, &g, x0.view(), FistaParams::default()).unwrap();
        let r2 = Driver::new(20000)
            .stop_when(Stop::RelNormalResidual(1e-7))
            .run(&mut s)
            .unwrap();
        assert!(lasso_kkt(&a, &y, lambda, &r2.x) < 1e-4, "{}", r2.summary());
        let d: f32 =
            r.x.iter()
                .zip(r2.x.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
        assert!(d < 1e-4, "ista and fista differ by {d}");
    }

    #[test]
    fn fista_objective_decreases_faster_than_ista() {
        let (a, y, lambda) = lasso(8);
        let f = Ls::new(&a, y.clone());
        let g = L1(lambda);
        let x0 = zeros::<f32>(&[20]);
        let mut s = Fista::new(&f, &g, x0.view(), FistaParams::default())
            .unwrap()
            .with_objective(&f, &g);
        let fast = Driver::new(3000).run(&mut s).unwrap();
        let fstar = fast.last().unwrap().objective.unwrap();
        let mut s = Fista::new(&f, &g, x0.view(), FistaParams::default())
            .unwrap()
            .with_objective(&f, &g);
        let rf = Driver::new(30).run(&mut s).unwrap();
        let mut s = Ista::new(&f, &g, x0.view(), FistaParams::default())
            .unwrap()
            .with_objective(&f, &g);
        let ri = Driver::new(30).run(&mut s).unwrap();
        assert_eq!(ri.solver, "ista");
        let gap_f = rf.last().unwrap().objective.unwrap() - fstar;
        let gap_i = ri.last().unwrap().objective.unwrap() - fstar;
        assert!(
            gap_f < 0.2 * gap_i,
            "fista gap {gap_f:.3e}, ista gap {gap_i:.3e}"
        );
        // ISTA is monotone.
        for w in ri.history.windows(2) {
            let (p, q) = (w[0].objective.unwrap(), w[1].objective.unwrap());
            assert!(q <= p * (1.0 + 1e-6), "ista objective rose {p} -> {q}");
        }
        // Reported objective is f + g at the iterate.
        let want = f.value(rf.x.view()) + g.value(rf.x.view());
        assert!((rf.last().unwrap().objective.unwrap() - want).abs() < 1e-9 * want);
    }

    #[test]
    fn backtracking_finds_a_valid_step_without_lipschitz() {
        let (a, y, lambda) = lasso(9);
        let a = DenseMatrix::<f32, f32>::new(a.m.mapv(|v| 3.0 * v));
        let f = LsNoL(Ls::new(&a, y.clone()));
        let g = L1(lambda);
        let x0 = zeros::<f32>(&[20]);
        assert!(Fista::new(&f, &g, x0.view(), FistaParams::default()).is_err());
        let true_l = f.0.l;
        // From a far too small and from the default (secant) initial estimate.
        for start in [Some(1e-3), None] {
            let p = FistaParams {
                lipschitz: start,
                ..Default::default()
            };
            let mut s = Fista::backtracking(&f, &g, x0.view(), p).unwrap();
            let r = Driver::new(5000)
                .stop_when(Stop::RelNormalResidual(1e-7))
                .run(&mut s)
                .unwrap();
            assert!(
                matches!(r.termination, Termination::Converged(_)),
                "{}",
                r.summary()
            );
            let kkt = lasso_kkt(&a, &y, lambda, &r.x);
            assert!(kkt < 1e-4, "{start:?}: {}: kkt {kkt:.2e}", r.summary());
            // The accepted L never exceeds η times the true constant.
            assert!(
                s.lipschitz() <= 2.0 * true_l * 1.001,
                "{} vs {true_l}",
                s.lipschitz()
            );
            if start.is_some() {
                assert!(s.backtracks() > 0);
            }
            let mut s = Ista::backtracking(&f, &g, x0.view(), p).unwrap();
            let r = Driver::new(20000)
                .stop_when(Stop::RelNormalResidual(1e-7))
                .run(&mut s)
                .unwrap();
            assert!(lasso_kkt(&a, &y, lambda, &r.x) < 1e-4, "{}", r.summary());
        }
    }

    #[test]
    fn restart_speeds_up_strongly_convex_problems() {
        let (a, _, _) = problems(51);
        let y = random_array::<f32>(&[36], 2);
        let f = Ls::new(&a, y.clone());
        let g = Sq(0.05);
        let x0 = zeros::<f32>(&[12]);
        let run = |restart| {
            let p = FistaParams {
                restart,
                ..FistaParams::default()
            };
            let mut s = Fista::new(&f, &g, x0.view(), p)
                .unwrap()
                .with_objective(&f, &g);
            let r = Driver::new(3000)
                .stop_when(Stop::RelNormalResidual(1e-6))
                .run(&mut s)
                .unwrap();
            (r.iterations, s.restarts())
        };
        let (plain, _) = run(Restart::None);
        let (grad, nr) = run(Restart::Gradient);
        let (func, nf) = run(Restart::Function);
        assert!(nr > 0 && nf > 0);
        assert!(
            grad < plain && func < plain,
            "plain {plain}, gradient {grad}, function {func}"
        );
    }

    #[test]
    fn function_restart_without_objective_is_refused() {
        let (a, y, lambda) = lasso(10);
        let f = Ls::new(&a, y);
        let g = L1(lambda);
        let x0 = zeros::<f32>(&[20]);
        let p = FistaParams {
            restart: Restart::Function,
            ..Default::default()
        };
        let mut s = Fista::new(&f, &g, x0.view(), p).unwrap();
        assert!(Driver::new(5).run(&mut s).is_err());
        let p = FistaParams {
            lipschitz: Some(-1.0),
            ..Default::default()
        };
        assert!(Fista::new(&f, &g, x0.view(), p).is_err());
    }
}
