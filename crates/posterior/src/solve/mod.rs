//! Solvers: the [`Driver`] that runs every iterative method, and the algorithms.
//!
//! Every method is a struct holding `Params` (with `Default`), the borrowed problem
//! (operator and data) and its owned iterates, and implements [`Iterative`]: it does one
//! step, the driver does the rest (limits, stopping rules, timing, observers, NaN checks).
//! The operator is wrapped in [`Counted`](crate::ops::counted::Counted), so every
//! [`Report`] states the forward and adjoint applications it cost.
//!
//! Least-squares (maximum-likelihood under Gaussian noise) solvers for
//! `min_x ½‖A x − y‖² + ½λ‖x‖²`:
//! - [`Cgls`]: conjugate gradients on the normal equations (Björck's CGLS);
//! - [`Lsqr`]: Paige & Saunders' LSQR, with its residual estimates and `atol/btol` tests;
//! - [`Landweber`]: gradient descent `x ← P(x + τ(A^H(y − A x) − λx))`, optionally projected
//!   onto a box (non-negativity), the only one of the three that accepts constraints.
//!
//! [`mle`] runs any of them from [`MleParams`] (parsed from `mle:solver=cgls,iters=50,...`).
//!
//! All three accept any [`LinearOperator`], including real-to-complex ones (MRI): the
//! iterate lives in `O::Domain`, residuals in `O::Range`, and the scalars (`α`, `β`, norms)
//! are computed in f64 from the real inner product `Re <a, b>`.

pub mod admm;
pub mod cg;
pub mod cgls;
pub mod driver;
pub mod fista;
pub mod landweber;
pub mod lsqr;
pub mod pdhg;
pub mod pnp;
pub mod quadratic;

pub use admm::{Admm, AdmmParams, LinearizedAdmm, LinearizedAdmmParams};
pub use cg::{Cg, CgParams, NormalMap, SpdMap, cg_solve, cg_solve_into};
pub use cgls::{Cgls, CglsParams};
pub use driver::{
    Callback, Convergence, Driver, Inspect, IterRecord, Iterative, JsonLog, Observer, Report,
    StepInfo, Stop, Termination,
};
pub use fista::{Fista, FistaParams, Ista, Restart};
pub use landweber::{Landweber, LandweberParams};
pub use lsqr::{Lsqr, LsqrParams};
pub use pdhg::{Pdhg, PdhgParams};

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{Error, Result};
use crate::ops::LinearOperator;
use crate::scalar::Scalar;
use crate::spec::Spec;

/// Which least-squares method [`mle`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MleSolver {
    /// [`Cgls`] (the default): fastest for unconstrained problems.
    #[default]
    Cgls,
    /// [`Lsqr`]: same iterates as CGLS in exact arithmetic, more robust on ill-conditioned
    /// problems, with built-in `atol/btol` stopping tests.
    Lsqr,
    /// [`Landweber`]: slow but accepts box constraints (projected Landweber).
    Landweber,
}

impl MleSolver {
    /// Lower-case name as used in specs.
    pub fn name(&self) -> &'static str {
        match self {
            MleSolver::Cgls => "cgls",
            MleSolver::Lsqr => "lsqr",
            MleSolver::Landweber => "landweber",
        }
    }
}

/// Parameters of the maximum-likelihood (least-squares) reconstruction
/// `min_x ½‖A x − y‖²` (subject to `lower <= x <= upper` when `bounds` is set).
///
/// There is deliberately no regularization here: MLE under Gaussian noise is plain least
/// squares, and on ill-posed problems the iteration count is the regularization parameter
/// (semi-convergence: stop early). Use the solvers' `lambda` directly for Tikhonov damping.
#[derive(Debug, Clone, PartialEq)]
pub struct MleParams {
    /// The method (default [`MleSolver::Cgls`]).
    pub solver: MleSolver,
    /// Iteration limit (default 50).
    pub max_iters: usize,
    /// Relative tolerance (default `1e-6`; 0 runs all `max_iters`). CGLS and Landweber
    /// stop on [`Stop::RelNormalResidual`]`(tol)`; LSQR uses `atol = btol = tol`.
    pub tol: f64,
    /// Box constraint `(lower, upper)` on real iterates; needs [`MleSolver::Landweber`].
    pub bounds: Option<(f32, f32)>,
    /// Landweber step `τ` (default `1/‖A‖²`, estimated); needs [`MleSolver::Landweber`].
    pub step: Option<f64>,
}

impl Default for MleParams {
    fn default() -> Self {
        MleParams {
            solver: MleSolver::Cgls,
            max_iters: 50,
            tol: 1e-6,
            bounds: None,
            step: None,
        }
    }
}

impl MleParams {
    /// The spec keys of `mle:...` with their documentation.
    pub const KEYS: &'static [(&'static str, &'static str)] = &[
        ("iters", "iteration limit (default 50)"),
        (
            "solver",
            "cgls | lsqr | landweber (default cgls; landweber when a bound or step is given)",
        ),
        (
            "tol",
            "relative optimality tolerance, 0 = run all iterations (default 1e-6)",
        ),
        (
            "positive",
            "true: constrain x >= 0 (projected Landweber) (default false)",
        ),
        (
            "lower",
            "lower bound on x (projected Landweber) (default none)",
        ),
        (
            "upper",
            "upper bound on x (projected Landweber) (default none)",
        ),
        ("step", "Landweber step size (default 1/||A||^2, estimated)"),
    ];

    /// Parse `mle:iters=50,solver=cgls|lsqr|landweber,tol=1e-6,positive=true,lower=0,upper=1,step=0.5`.
    ///
    /// A bound (`positive`, `lower`, `upper`) or a `step` selects projected Landweber, the
    /// only one of the three methods that handles them; naming `solver=cgls` or
    /// `solver=lsqr` together with one of them is an error rather than a silent change of
    /// method. `positive=true` means `lower=0` and cannot be combined with `lower`.
    pub fn from_spec(spec: &Spec) -> Result<Self> {
        if spec.name != "mle" {
            return Err(Error::Spec(format!(
                "`{spec}`: expected an `mle:...` specification"
            )));
        }
        let keys: Vec<&str> = Self::KEYS.iter().map(|(k, _)| *k).collect();
        let a = spec.args(&keys)?;
        let d = MleParams::default();
        let max_iters = a.usize_in("iters", d.max_iters, 1, 100_000_000)?;
        let tol = match a.str_opt("tol") {
            None => d.tol,
            Some(v) => match v.parse::<f64>() {
                Ok(t) if t.is_finite() && t >= 0.0 => t,
                _ => {
                    return Err(Error::Spec(format!(
                        "`{spec}`: `tol` expects a finite number >= 0, got `{v}`"
                    )));
                }
            },
        };
        let positive = a.bool("positive", false)?;
        let lower = a.f32_opt("lower")?;
        let upper = a.f32_opt("upper")?;
        if positive && lower.is_some() {
            return Err(Error::Spec(format!(
                "`{spec}`: give either `positive=true` or `lower=`, not both"
            )));
        }
        let lower = if positive { Some(0.0) } else { lower };
        let bounds = match (lower, upper) {
            (None, None) => None,
            (l, u) => Some((l.unwrap_or(f32::NEG_INFINITY), u.unwrap_or(f32::INFINITY))),
        };
        if let Some((l, u)) = bounds
            && l > u
        {
            return Err(Error::Spec(format!(
                "`{spec}`: lower bound {l} exceeds upper bound {u}"
            )));
        }
        let step = if a.has("step") {
            Some(a.positive_f32("step", 1.0)? as f64)
        } else {
            None
        };
        let needs_landweber = bounds.is_some() || step.is_some();
        let solver = match a.str_opt("solver") {
            None if needs_landweber => MleSolver::Landweber,
            None => MleSolver::Cgls,
            Some(_) => match a
                .choice("solver", &["cgls", "lsqr", "landweber"], "cgls")?
                .as_str()
            {
                "lsqr" => MleSolver::Lsqr,
                "landweber" => MleSolver::Landweber,
                _ => MleSolver::Cgls,
            },
        };
        let p = MleParams {
            solver,
            max_iters,
            tol,
            bounds,
            step,
        };
        p.validate()
            .map_err(|e| Error::Spec(format!("`{spec}`: {e}")))?;
        Ok(p)
    }

    /// Check consistency: bounds and step need Landweber; `tol` finite and `>= 0`.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::param(
                "tol",
                format!("must be finite and >= 0, got {}", self.tol),
            ));
        }
        if self.solver != MleSolver::Landweber {
            if self.bounds.is_some() {
                return Err(Error::param(
                    "solver",
                    format!(
                        "{} cannot enforce bounds; use solver=landweber (projected Landweber) or drop the bounds",
                        self.solver.name()
                    ),
                ));
            }
            if self.step.is_some() {
                return Err(Error::param(
                    "step",
                    format!(
                        "{} has no step size; only landweber takes `step`",
                        self.solver.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Maximum-likelihood (least-squares) reconstruction `argmin ½‖A x − y‖²`, optionally
/// box-constrained, with the method and stopping rule of `params`, starting from `x = 0`.
///
/// `driver` brings the observers, interrupt flag, timeout and reference image; its
/// iteration limit is replaced by `params.max_iters` and the tolerance rule of
/// [`MleParams::tol`] is added to its stopping rules.
///
/// ```
/// use posterior::solve::{mle, Driver, MleParams};
/// use posterior::ops::Identity;
/// let op = Identity::<f32>::new(&[3]);
/// let y = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3]), vec![-1.0f32, 2.0, 0.5]).unwrap();
/// let params = MleParams::from_spec(&"mle:positive=true,iters=20".parse().unwrap()).unwrap();
/// let report = mle(&op, y.view(), &params, Driver::default()).unwrap();
/// assert_eq!(report.solver, "landweber");
/// assert_eq!(report.x.as_slice().unwrap(), &[0.0, 2.0, 0.5]); // projection of y onto x >= 0
/// ```
pub fn mle<'a, O: LinearOperator>(
    op: &O,
    y: ArrayViewD<O::Range>,
    params: &MleParams,
    driver: Driver<'a, O::Domain>,
) -> Result<crate::solve::Report<O::Domain>> {
    params.validate()?;
    let driver = driver.max_iters(params.max_iters);
    let with_tol = |d: Driver<'a, O::Domain>| {
        if params.tol > 0.0 {
            d.stop_when(Stop::RelNormalResidual(params.tol))
        } else {
            d
        }
    };
    match params.solver {
        MleSolver::Cgls => {
            let mut s = Cgls::new(op, y, CglsParams::default())?;
            with_tol(driver).run(&mut s)
        }
        MleSolver::Lsqr => {
            let p = LsqrParams {
                atol: params.tol,
                btol: params.tol,
                // tol = 0 runs all iterations, so the condition-number stop is off too
                conlim: if params.tol == 0.0 {
                    0.0
                } else {
                    LsqrParams::default().conlim
                },
                ..LsqrParams::default()
            };
            let mut s = Lsqr::new(op, y, p)?;
            driver.run(&mut s)
        }
        MleSolver::Landweber => {
            let p = LandweberParams {
                step: params.step,
                bounds: params.bounds,
                ..LandweberParams::default()
            };
            let mut s = Landweber::new(op, y, p)?;
            with_tol(driver).run(&mut s)
        }
    }
}

// ---- small kernels shared by the solvers (all buffers are row-major contiguous) ----

/// An owned row-major copy of a view.
pub(crate) fn standard<T: Scalar>(v: ArrayViewD<T>) -> ArrayD<T> {
    v.as_standard_layout().into_owned()
}

/// A zero array of `shape`.
pub(crate) fn zeros<T: Scalar>(shape: &[usize]) -> ArrayD<T> {
    ArrayD::from_elem(IxDyn(shape), T::zero())
}

/// The elements of a solver-owned buffer.
pub(crate) fn sl<T>(a: &ArrayD<T>) -> &[T] {
    a.as_slice()
        .expect("solver buffers are row-major contiguous")
}

/// The elements of a solver-owned buffer, mutably.
pub(crate) fn sl_mut<T>(a: &mut ArrayD<T>) -> &mut [T] {
    a.as_slice_mut()
        .expect("solver buffers are row-major contiguous")
}

/// Independent accumulators in the reductions below: they break the dependency chain of
/// the f64 additions so the loops vectorize (about 8x faster than a single running sum on
/// large images), and the sum is more accurate than a sequential one.
const LANES: usize = 8;

/// `‖a‖²` in f64.
pub(crate) fn norm_sq<T: Scalar>(a: &[T]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|v| v.dot_re(*v)).sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i].dot_re(c[i]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Apply `f(&mut a_i, b_i)` to paired elements and return the sum of its results (f64).
pub(crate) fn zip_sum<A, B: Copy>(
    a: &mut [A],
    b: &[B],
    mut f: impl FnMut(&mut A, B) -> f64,
) -> f64 {
    assert_eq!(a.len(), b.len(), "zip_sum: length mismatch");
    let mut acc = [0.0f64; LANES];
    let mut ca = a.chunks_exact_mut(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += f(&mut x[i], y[i]);
        }
    }
    let mut tail = 0.0;
    for (x, &y) in ca.into_remainder().iter_mut().zip(cb.remainder()) {
        tail += f(x, y);
    }
    acc.iter().sum::<f64>() + tail
}

/// Like [`zip_sum`] with two sums.
pub(crate) fn zip_sum2<A, B: Copy>(
    a: &mut [A],
    b: &[B],
    mut f: impl FnMut(&mut A, B) -> (f64, f64),
) -> (f64, f64) {
    assert_eq!(a.len(), b.len(), "zip_sum2: length mismatch");
    let mut acc0 = [0.0f64; LANES];
    let mut acc1 = [0.0f64; LANES];
    let mut ca = a.chunks_exact_mut(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            let (s0, s1) = f(&mut x[i], y[i]);
            acc0[i] += s0;
            acc1[i] += s1;
        }
    }
    let (mut t0, mut t1) = (0.0, 0.0);
    for (x, &y) in ca.into_remainder().iter_mut().zip(cb.remainder()) {
        let (s0, s1) = f(x, y);
        t0 += s0;
        t1 += s1;
    }
    (acc0.iter().sum::<f64>() + t0, acc1.iter().sum::<f64>() + t1)
}

/// Like [`zip_sum2`] over three slices, the first two mutable.
pub(crate) fn zip3_sum2<A, B, C: Copy>(
    a: &mut [A],
    b: &mut [B],
    c: &[C],
    mut f: impl FnMut(&mut A, &mut B, C) -> (f64, f64),
) -> (f64, f64) {
    assert!(
        a.len() == b.len() && b.len() == c.len(),
        "zip3_sum2: length mismatch"
    );
    let mut acc0 = [0.0f64; LANES];
    let mut acc1 = [0.0f64; LANES];
    let mut ca = a.chunks_exact_mut(LANES);
    let mut cb = b.chunks_exact_mut(LANES);
    let mut cc = c.chunks_exact(LANES);
    for ((x, y), z) in (&mut ca).zip(&mut cb).zip(&mut cc) {
        for i in 0..LANES {
            let (s0, s1) = f(&mut x[i], &mut y[i], z[i]);
            acc0[i] += s0;
            acc1[i] += s1;
        }
    }
    let (mut t0, mut t1) = (0.0, 0.0);
    for ((x, y), &z) in ca
        .into_remainder()
        .iter_mut()
        .zip(cb.into_remainder().iter_mut())
        .zip(cc.remainder())
    {
        let (s0, s1) = f(x, y, z);
        t0 += s0;
        t1 += s1;
    }
    (acc0.iter().sum::<f64>() + t0, acc1.iter().sum::<f64>() + t1)
}

/// `num / den`, or `num` itself when `den = 0` (a relative measure falls back to the
/// absolute one when its reference vanishes, e.g. for `y = 0`).
pub(crate) fn rel(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { num }
}

/// Error unless every element of `a` is finite.
pub(crate) fn check_finite<T: Scalar>(a: ArrayViewD<T>, what: &str) -> Result<()> {
    let count = a.iter().filter(|v| !v.is_finite()).count();
    if count > 0 {
        return Err(Error::NonFinite {
            what: what.to_string(),
            count,
        });
    }
    Ok(())
}

/// Error unless `lambda` is finite and `>= 0`.
pub(crate) fn check_lambda(lambda: f64) -> Result<()> {
    if lambda.is_finite() && lambda >= 0.0 {
        Ok(())
    } else {
        Err(Error::param(
            "lambda",
            format!("damping must be finite and >= 0, got {lambda}"),
        ))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Test-only dense operators and an f64 normal-equation solver for known answers.

    use super::*;
    use crate::scalar::c32;
    use ndarray::{Array2, ArrayViewMutD};

    /// `y = M x` for a dense `m x n` matrix with entries of the range type; the domain may
    /// be real while the range is complex (then `A^H y = Re(M^H y)`).
    pub struct DenseMatrix<D: Scalar, R: Scalar> {
        pub m: Array2<R>,
        dshape: Vec<usize>,
        rshape: Vec<usize>,
        _d: std::marker::PhantomData<D>,
    }

    impl<D: Scalar, R: Scalar> DenseMatrix<D, R> {
        pub fn new(m: Array2<R>) -> Self {
            let (rows, cols) = m.dim();
            DenseMatrix {
                m,
                dshape: vec![cols],
                rshape: vec![rows],
                _d: std::marker::PhantomData,
            }
        }

        /// Gaussian entries with variance 1/rows, seeded.
        pub fn random(rows: usize, cols: usize, seed: u64) -> Self {
            let mut rng = crate::rng(seed);
            let s = (1.0 / rows as f32).sqrt();
            Self::new(Array2::from_shape_simple_fn((rows, cols), || {
                R::standard_normal(&mut rng) * s
            }))
        }
    }

    fn embed<D: Scalar, R: Scalar>(x: D) -> R {
        R::from_parts(x.re(), x.im())
    }

    fn project<D: Scalar, R: Scalar>(y: R) -> D {
        D::from_parts(y.re(), y.im())
    }

    impl<D: Scalar, R: Scalar> LinearOperator for DenseMatrix<D, R> {
        type Domain = D;
        type Range = R;
        fn describe(&self) -> String {
            format!("dense {}x{}", self.rshape[0], self.dshape[0])
        }
        fn domain_shape(&self) -> &[usize] {
            &self.dshape
        }
        fn range_shape(&self) -> &[usize] {
            &self.rshape
        }
        fn apply_into(&self, x: ArrayViewD<D>, mut y: ArrayViewMutD<R>) {
            for (i, row) in self.m.rows().into_iter().enumerate() {
                y[[i]] = row
                    .iter()
                    .zip(x.iter())
                    .map(|(&a, &b)| a * embed::<D, R>(b))
                    .sum();
            }
        }
        fn adjoint_into(&self, y: ArrayViewD<R>, mut x: ArrayViewMutD<D>) {
            for (j, col) in self.m.columns().into_iter().enumerate() {
                let s: R = col.iter().zip(y.iter()).map(|(&a, &b)| a.conj() * b).sum();
                x[[j]] = project::<D, R>(s);
            }
        }
    }

    /// The operator as a real f64 matrix on the real coordinates (re, im interleaved for
    /// complex arrays), built column by column from unit vectors (exact: each entry is one
    /// product with 1).
    pub fn real_matrix<O: LinearOperator>(op: &O) -> Array2<f64> {
        let n: usize = op.domain_shape().iter().product();
        let dc = if O::Domain::IS_COMPLEX { 2 } else { 1 };
        let rc = if O::Range::IS_COMPLEX { 2 } else { 1 };
        let m: usize = op.range_shape().iter().product();
        let mut b = Array2::zeros((m * rc, n * dc));
        for j in 0..n * dc {
            let mut e = zeros::<O::Domain>(op.domain_shape());
            let (re, im) = if j % dc == 0 { (1.0, 0.0) } else { (0.0, 1.0) };
            sl_mut(&mut e)[j / dc] = O::Domain::from_parts(re, im);
            let col = op.apply(e.view());
            for (i, v) in col.iter().enumerate() {
                b[[i * rc, j]] = v.re() as f64;
                if rc == 2 {
                    b[[i * rc + 1, j]] = v.im() as f64;
                }
            }
        }
        b
    }

    /// Real f64 coordinates of an array (re, im interleaved when complex).
    pub fn real_coords<T: Scalar>(a: &ArrayD<T>) -> Vec<f64> {
        let mut v = Vec::new();
        for x in a.iter() {
            v.push(x.re() as f64);
            if T::IS_COMPLEX {
                v.push(x.im() as f64);
            }
        }
        v
    }

    /// Solve `(BᵀB + λI) x = Bᵀy` by Cholesky in f64.
    pub fn normal_solution(b: &Array2<f64>, y: &[f64], lambda: f64) -> Vec<f64> {
        let n = b.ncols();
        let mut g = b.t().dot(b);
        for i in 0..n {
            g[[i, i]] += lambda;
        }
        let rhs = b.t().dot(&ndarray::Array1::from(y.to_vec()));
        // Cholesky G = L Lᵀ.
        let mut l = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in 0..=i {
                let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
                if i == j {
                    let d = g[[i, i]] - s;
                    assert!(d > 0.0, "normal matrix not positive definite");
                    l[[i, i]] = d.sqrt();
                } else {
                    l[[i, j]] = (g[[i, j]] - s) / l[[j, j]];
                }
            }
        }
        let mut z = vec![0.0; n];
        for i in 0..n {
            let s: f64 = (0..i).map(|k| l[[i, k]] * z[k]).sum();
            z[i] = (rhs[i] - s) / l[[i, i]];
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| l[[k, i]] * x[k]).sum();
            x[i] = (z[i] - s) / l[[i, i]];
        }
        x
    }

    /// A seeded standard-normal array (the testkit's `random_array` lives in another
    /// instance of this crate, so unit tests use this one).
    pub fn random_array<T: Scalar>(shape: &[usize], seed: u64) -> ArrayD<T> {
        let mut rng = crate::rng(seed);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || T::standard_normal(&mut rng))
    }

    /// Relative distance `‖a − b‖ / ‖b‖`.
    pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
        let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
        let n: f64 = b.iter().map(|y| y * y).sum();
        (d / n).sqrt()
    }

    /// The known answer for `op`, `y`, `lambda`, and a random `y`.
    pub fn reference<O: LinearOperator>(op: &O, y: &ArrayD<O::Range>, lambda: f64) -> Vec<f64> {
        normal_solution(&real_matrix(op), &real_coords(y), lambda)
    }

    /// Real, complex and real-to-complex 3-row-per-column random problems.
    pub fn problems(
        seed: u64,
    ) -> (
        DenseMatrix<f32, f32>,
        DenseMatrix<c32, c32>,
        DenseMatrix<f32, c32>,
    ) {
        (
            DenseMatrix::random(36, 12, seed),
            DenseMatrix::random(30, 10, seed + 1),
            DenseMatrix::random(20, 12, seed + 2),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::ops::Identity;

    #[test]
    fn lane_reductions_match_sequential_sums() {
        for n in [0usize, 1, 7, 8, 9, 100] {
            let a = testing::random_array::<crate::scalar::c32>(&[n.max(1)], n as u64);
            let a = &sl(&a)[..n];
            let want: f64 = a.iter().map(|v| v.dot_re(*v)).sum();
            assert!((norm_sq(a) - want).abs() <= 1e-12 * want.max(1.0));
            let mut x: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let y: Vec<f32> = (0..n).map(|i| 2.0 * i as f32).collect();
            let s = zip_sum(&mut x, &y, |x, y| {
                *x += y;
                *x as f64
            });
            // x_i = 3i, sum = 3 n (n - 1) / 2.
            assert_eq!(s, 1.5 * (n * n.saturating_sub(1)) as f64);
            let (s0, s1) = zip_sum2(&mut x, &y, |x, y| {
                *x -= y;
                (*x as f64, 1.0)
            });
            assert_eq!((s0, s1), (0.5 * (n * n.saturating_sub(1)) as f64, n as f64));
            let mut w = y.clone();
            let v = vec![1.0f32; n];
            let (s0, s1) = zip3_sum2(&mut x, &mut w, &v, |x, w, v| {
                *x += *w;
                *w = v;
                (*x as f64, *w as f64)
            });
            assert_eq!((s0, s1), (1.5 * (n * n.saturating_sub(1)) as f64, n as f64));
            assert!(w.iter().all(|&w| w == 1.0));
        }
    }

    #[test]
    fn spec_parsing() {
        let p = |s: &str| MleParams::from_spec(&Spec::parse(s).unwrap());
        assert_eq!(p("mle").unwrap(), MleParams::default());
        let q = p("mle:iters=30,solver=lsqr,tol=1e-4").unwrap();
        assert_eq!(
            (q.solver, q.max_iters, q.bounds),
            (MleSolver::Lsqr, 30, None)
        );
        assert_eq!(q.tol, 1e-4);
        let q = p("mle:positive=true").unwrap();
        assert_eq!(q.solver, MleSolver::Landweber);
        assert_eq!(q.bounds, Some((0.0, f32::INFINITY)));
        let q = p("mle:lower=-1,upper=2,solver=landweber,step=0.5").unwrap();
        assert_eq!(q.bounds, Some((-1.0, 2.0)));
        assert_eq!(q.step, Some(0.5));
        assert_eq!(
            p("mle:upper=1").unwrap().bounds,
            Some((f32::NEG_INFINITY, 1.0))
        );
        assert_eq!(p("mle:step=0.1").unwrap().solver, MleSolver::Landweber);
        assert_eq!(p("mle:tol=0").unwrap().tol, 0.0);
        for bad in [
            "mle:solver=cgls,positive=true",
            "mle:solver=lsqr,upper=1",
            "mle:solver=cgls,step=1",
            "mle:positive=true,lower=1",
            "mle:lower=2,upper=1",
            "mle:solver=gmres",
            "mle:tol=-1",
            "mle:iters=0",
            "mle:step=0",
            "mle:bogus=1",
            "tv:iters=3",
        ] {
            assert!(p(bad).is_err(), "{bad} should be refused");
        }
        let e = p("mle:solver=cgls,positive=true").unwrap_err().to_string();
        assert!(e.contains("landweber"), "{e}");
    }

    #[test]
    fn mle_runs_each_solver_to_the_least_squares_solution() {
        let op = DenseMatrix::<f32, f32>::random(24, 8, 3);
        let y = random_array::<f32>(&[24], 4);
        let want = reference(&op, &y, 0.0);
        for (solver, iters) in [
            (MleSolver::Cgls, 40),
            (MleSolver::Lsqr, 40),
            (MleSolver::Landweber, 3000),
        ] {
            let params = MleParams {
                solver,
                max_iters: iters,
                tol: 1e-5,
                ..MleParams::default()
            };
            let r = mle(&op, y.view(), &params, Driver::default()).unwrap();
            assert_eq!(r.solver, solver.name());
            assert!(
                matches!(r.termination, Termination::Converged(_)),
                "{}",
                r.summary()
            );
            let err = rel_err(&real_coords(&r.x), &want);
            assert!(err < 1e-4, "{}: error {err}", r.summary());
        }
        // Bounds with a non-projected method are refused up front.
        let params = MleParams {
            bounds: Some((0.0, 1.0)),
            ..MleParams::default()
        };
        assert!(mle(&op, y.view(), &params, Driver::default()).is_err());
    }

    #[test]
    fn mle_respects_driver_options_and_tol_zero() {
        let op = Identity::<f32>::new(&[4, 4]);
        let y = random_array::<f32>(&[4, 4], 1);
        let params = MleParams {
            solver: MleSolver::Landweber,
            step: Some(0.1),
            tol: 0.0,
            max_iters: 7,
            ..MleParams::default()
        };
        let mut seen = 0;
        let r = mle(
            &op,
            y.view(),
            &params,
            Driver::new(1000).observe(Box::new(Callback::new(|_: &IterRecord| seen += 1))),
        )
        .unwrap();
        assert_eq!(r.iterations, 7);
        assert_eq!(r.termination, Termination::MaxIters);
        assert_eq!(seen, 7);
        // x_k = (1 - 0.9^k) y for A = I, tau = 0.1.
        let f = 1.0 - 0.9f32.powi(7);
        for (a, b) in r.x.iter().zip(y.iter()) {
            assert!((a - f * b).abs() < 1e-5);
        }
    }
}
