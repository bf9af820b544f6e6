//! The one loop every iterative method runs under.
//!
//! A solver implements [`Iterative`]: it performs one step and reports what it knows about
//! the new iterate in a [`StepInfo`]. The [`Driver`] owns everything around the step:
//! the iteration limit, stopping rules ([`Stop`]), wall-clock limit, interruption,
//! divergence detection, PSNR against a reference, per-iteration records
//! ([`IterRecord`]) and the [`Observer`]s that log them. It returns a [`Report`] whose
//! [`Termination`] says why the loop ended.
//!
//! ```
//! use posterior::solve::{Cgls, CglsParams, Driver, Stop, Termination};
//! use posterior::ops::Identity;
//! use ndarray::{ArrayD, IxDyn};
//! let op = Identity::<f32>::new(&[3]);
//! let y = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0f32, -2.0, 0.5]).unwrap();
//! let mut cgls = Cgls::new(&op, y.view(), CglsParams::default()).unwrap();
//! let report = Driver::new(10).stop_when(Stop::RelResidual(1e-6)).run(&mut cgls).unwrap();
//! // For A = I, one CG step solves the problem exactly.
//! assert_eq!(report.iterations, 1);
//! assert!(matches!(report.termination, Termination::Converged(_)));
//! assert_eq!(report.x, y);
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, ArrayViewD};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::counted::OpCounts;
use crate::scalar::Scalar;

/// One iterative method, advanced one step at a time by a [`Driver`].
///
/// Implementors do the arithmetic of one iteration and nothing else: no stopping rules,
/// timing or logging. `current` is the iterate after the last `step` (the starting point
/// before the first).
pub trait Iterative {
    /// Element type of the iterate.
    type Elem: Scalar;
    /// Short lower-case name used in reports and errors (`cgls`, `lsqr`, ...).
    fn name(&self) -> &'static str;
    /// Perform one iteration.
    fn step(&mut self) -> Result<StepInfo>;
    /// The current iterate.
    fn current(&self) -> ArrayViewD<'_, Self::Elem>;
    /// Operator applications so far, including any set-up work (initial residual,
    /// norm estimates).
    fn counts(&self) -> OpCounts;
}

/// What a solver knows about its new iterate `x_k` after one step. `None` means the
/// solver does not compute that quantity (a [`Stop`] that needs it is then refused).
/// Each relative measure falls back to the absolute one when its denominator is zero
/// (`y = 0`, a zero iterate, a starting point that is already optimal).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepInfo {
    /// The value of the objective the method minimizes (for least squares,
    /// `½‖A x − y‖² + ½λ‖x‖²`).
    pub objective: Option<f64>,
    /// Relative data residual `‖A x_k − y‖ / ‖y‖`.
    pub rel_residual: Option<f64>,
    /// First-order optimality measure relative to its value at the start: for smooth
    /// unconstrained problems `‖∇f(x_k)‖ / ‖∇f(x_0)‖` (for least squares the normal-equation
    /// residual `‖A^H(y − A x) − λx‖`); for constrained ones the norm of the projected
    /// gradient mapping.
    pub rel_normal_residual: Option<f64>,
    /// Relative change `‖x_k − x_{k−1}‖ / ‖x_k‖`.
    pub rel_change: Option<f64>,
    /// Set when the method's own convergence test fired (LSQR's `atol/btol` tests) or it
    /// reached an exact solution and cannot make further progress. The driver stops.
    pub converged: Option<Convergence>,
}

/// A satisfied convergence test: which one, the measured value and its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Convergence {
    /// Name of the test, e.g. `rel_residual`.
    pub criterion: &'static str,
    /// The measured value.
    pub value: f64,
    /// The threshold it fell below (or, for limits such as a condition estimate, reached).
    pub threshold: f64,
}

impl std::fmt::Display for Convergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value == 0.0 && self.threshold == 0.0 {
            // Exact events (a vanishing gradient) carry no informative numbers.
            write!(f, "{}", self.criterion)
        } else {
            write!(
                f,
                "{} {:.2e} vs {:e}",
                self.criterion, self.value, self.threshold
            )
        }
    }
}

/// Why the iteration loop ended. (Divergence is not a termination but an
/// [`Error::Diverged`].)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Termination {
    /// The iteration limit was reached.
    MaxIters,
    /// A stopping rule or the solver's own test was satisfied.
    Converged(Convergence),
    /// The interrupt flag was raised (Ctrl-C).
    Interrupted,
    /// The wall-clock limit was reached.
    Timeout,
}

impl std::fmt::Display for Termination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Termination::MaxIters => write!(f, "max iterations"),
            Termination::Converged(c) => write!(f, "converged: {c}"),
            Termination::Interrupted => write!(f, "interrupted"),
            Termination::Timeout => write!(f, "timeout"),
        }
    }
}

/// A stopping rule checked by the [`Driver`] after every step; the first one satisfied ends
/// the run with [`Termination::Converged`]. Every threshold is compared with `<=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// `‖A x_k − y‖ / ‖y‖ <= tol`. Reachable only for (nearly) consistent data.
    RelResidual(f64),
    /// [`StepInfo::rel_normal_residual`] `<= tol`: the optimality test for noisy
    /// least-squares problems, whose residual does not vanish.
    RelNormalResidual(f64),
    /// `‖x_k − x_{k−1}‖ / ‖x_k‖ <= tol`.
    RelChange(f64),
    /// `f(x_k) <= value`.
    ObjectiveBelow(f64),
    /// `|f(x_k) − f(x_{k−1})| <= tol · |f(x_k)|` (checked from the second iteration on).
    RelObjectiveChange(f64),
}

impl Stop {
    /// Name of the quantity the rule tests, as it appears in records and reports.
    pub fn criterion(&self) -> &'static str {
        match self {
            Stop::RelResidual(_) => "rel_residual",
            Stop::RelNormalResidual(_) => "rel_normal_residual",
            Stop::RelChange(_) => "rel_change",
            Stop::ObjectiveBelow(_) => "objective",
            Stop::RelObjectiveChange(_) => "rel_objective_change",
        }
    }

    fn threshold(&self) -> f64 {
        match *self {
            Stop::RelResidual(t)
            | Stop::RelNormalResidual(t)
            | Stop::RelChange(t)
            | Stop::ObjectiveBelow(t)
            | Stop::RelObjectiveChange(t) => t,
        }
    }

    /// Whether the solver reports what this rule needs.
    fn available(&self, info: &StepInfo) -> bool {
        match self {
            Stop::RelResidual(_) => info.rel_residual.is_some(),
            Stop::RelNormalResidual(_) => info.rel_normal_residual.is_some(),
            Stop::RelChange(_) => info.rel_change.is_some(),
            Stop::ObjectiveBelow(_) | Stop::RelObjectiveChange(_) => info.objective.is_some(),
        }
    }

    fn check(&self, rec: &IterRecord, prev_objective: Option<f64>) -> Option<Convergence> {
        let value = match self {
            Stop::RelResidual(_) => rec.rel_residual?,
            Stop::RelNormalResidual(_) => rec.rel_normal_residual?,
            Stop::RelChange(_) => rec.rel_change?,
            Stop::ObjectiveBelow(_) => rec.objective?,
            Stop::RelObjectiveChange(_) => {
                let (f, g) = (rec.objective?, prev_objective?);
                let d = (f - g).abs();
                if d == 0.0 { 0.0 } else { d / f.abs() }
            }
        };
        (value <= self.threshold()).then(|| Convergence {
            criterion: self.criterion(),
            value,
            threshold: self.threshold(),
        })
    }
}

/// The record of one iteration, as passed to observers and kept in [`Report::history`].
/// Serializes to one flat JSON object (missing quantities are `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    /// Iteration number, starting at 1.
    pub iter: usize,
    /// See [`StepInfo::objective`].
    pub objective: Option<f64>,
    /// See [`StepInfo::rel_residual`].
    pub rel_residual: Option<f64>,
    /// See [`StepInfo::rel_normal_residual`].
    pub rel_normal_residual: Option<f64>,
    /// See [`StepInfo::rel_change`].
    pub rel_change: Option<f64>,
    /// PSNR in dB against the driver's reference image, when one was given:
    /// `10 log10(R² / MSE)` with `R` the data range; for complex iterates the magnitude
    /// `|x|` is compared. An exact match (infinite PSNR) serializes as `null`.
    pub psnr: Option<f64>,
    /// Cumulative forward applications `A`, set-up included.
    pub forward: u64,
    /// Cumulative adjoint applications `A^H`, set-up included.
    pub adjoint: u64,
    /// Seconds since the run started.
    pub seconds: f64,
}

/// Watches a run: called after every iteration with its record and the iterate, and once
/// at the end with the report. An `Err` from an observer aborts the run with that error.
pub trait Observer<T: Scalar> {
    /// Called after iteration `rec.iter` with the new iterate `x`.
    fn observe(&mut self, rec: &IterRecord, x: ArrayViewD<T>) -> Result<()>;
    /// Called once when the run ends normally (not on errors).
    fn finish(&mut self, report: &Report<T>) -> Result<()> {
        let _ = report;
        Ok(())
    }
}

impl<T: Scalar, O: Observer<T> + ?Sized> Observer<T> for &mut O {
    fn observe(&mut self, rec: &IterRecord, x: ArrayViewD<T>) -> Result<()> {
        (**self).observe(rec, x)
    }
    fn finish(&mut self, report: &Report<T>) -> Result<()> {
        (**self).finish(report)
    }
}

/// Writes one JSON object per iteration (an [`IterRecord`]) and, at the end, one line
/// `{"summary": {...}}` with the solver, iteration count, termination, operator counts
/// and elapsed seconds (JSON Lines).
pub struct JsonLog<W: Write> {
    w: W,
}

impl<W: Write> JsonLog<W> {
    /// Log to `w` (a file, stdout, a `Vec<u8>`).
    pub fn new(w: W) -> Self {
        JsonLog { w }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.w
    }

    fn io(e: impl std::fmt::Display) -> Error {
        Error::Io {
            path: PathBuf::from("<json log>"),
            reason: e.to_string(),
        }
    }
}

impl<T: Scalar, W: Write> Observer<T> for JsonLog<W> {
    fn observe(&mut self, rec: &IterRecord, _x: ArrayViewD<T>) -> Result<()> {
        serde_json::to_writer(&mut self.w, rec).map_err(Self::io)?;
        self.w.write_all(b"\n").map_err(Self::io)
    }

    fn finish(&mut self, report: &Report<T>) -> Result<()> {
        let line = serde_json::json!({
            "summary": {
                "solver": report.solver,
                "iterations": report.iterations,
                "termination": report.termination,
                "message": report.termination.to_string(),
                "forward": report.counts.forward,
                "adjoint": report.counts.adjoint,
                "seconds": report.elapsed.as_secs_f64(),
            }
        });
        serde_json::to_writer(&mut self.w, &line).map_err(Self::io)?;
        self.w.write_all(b"\n").map_err(Self::io)?;
        self.w.flush().map_err(Self::io)
    }
}

/// An observer from a closure over the record only, for progress displays; it works for
/// any element type.
///
/// ```
/// use posterior::solve::{Callback, Driver, Lsqr, LsqrParams};
/// use posterior::ops::Identity;
/// let op = Identity::<f32>::new(&[2]);
/// let y = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2]), 1.0f32);
/// let mut seen = Vec::new();
/// let mut solver = Lsqr::new(&op, y.view(), LsqrParams::default()).unwrap();
/// Driver::new(5)
///     .observe(Box::new(Callback::new(|r| seen.push(r.iter))))
///     .run(&mut solver)
///     .unwrap();
/// assert_eq!(seen, vec![1]); // LSQR solves A = I in one step and stops
/// ```
pub struct Callback<F>(F);

impl<F: FnMut(&IterRecord)> Callback<F> {
    /// Wrap a closure.
    pub fn new(f: F) -> Self {
        Callback(f)
    }
}

impl<T: Scalar, F: FnMut(&IterRecord)> Observer<T> for Callback<F> {
    fn observe(&mut self, rec: &IterRecord, _x: ArrayViewD<T>) -> Result<()> {
        (self.0)(rec);
        Ok(())
    }
}

/// An observer from a fallible closure that also sees the iterate (snapshots, custom
/// metrics).
pub struct Inspect<F>(F);

impl<F> Inspect<F> {
    /// Wrap a closure `|record, x| -> Result<()>` over iterates of element type `T`.
    pub fn new<T: Scalar>(f: F) -> Self
    where
        F: FnMut(&IterRecord, ArrayViewD<T>) -> Result<()>,
    {
        Inspect(f)
    }
}

impl<T: Scalar, F: FnMut(&IterRecord, ArrayViewD<T>) -> Result<()>> Observer<T> for Inspect<F> {
    fn observe(&mut self, rec: &IterRecord, x: ArrayViewD<T>) -> Result<()> {
        (self.0)(rec, x)
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report<T> {
    /// The final iterate.
    pub x: ArrayD<T>,
    /// Number of steps performed.
    pub iterations: usize,
    /// Why the loop ended.
    pub termination: Termination,
    /// One record per iteration.
    pub history: Vec<IterRecord>,
    /// Operator applications, set-up included.
    pub counts: OpCounts,
    /// Wall-clock time of the run (set-up done before [`Driver::run`] not included).
    pub elapsed: Duration,
    /// The solver's name.
    pub solver: &'static str,
}

impl<T> Report<T> {
    /// One line, e.g. `cgls: 143 iterations (converged: rel_residual 8.07e-7 vs 1e-6),
    /// 143 A, 144 A^H, 0.41 s`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} iteration{} ({}), {}, {:.2} s",
            self.solver,
            self.iterations,
            if self.iterations == 1 { "" } else { "s" },
            self.termination,
            self.counts,
            self.elapsed.as_secs_f64()
        )
    }

    /// The last iteration's record.
    pub fn last(&self) -> Option<&IterRecord> {
        self.history.last()
    }
}

/// Runs an [`Iterative`] method: iteration limit, stopping rules, timeout, interruption,
/// divergence checks, PSNR tracking and observers.
///
/// After every step the driver checks, in order:
/// 1. divergence: any non-finite value in the iterate, a NaN or infinite objective,
///    residual or optimality measure, or a relative residual more than
///    [`divergence_factor`](Self::divergence_factor) (default `1e6`) times its best value so
///    far (floored at `1e-9`) — reported as [`Error::Diverged`];
/// 2. observers;
/// 3. the solver's own convergence test, then the [`Stop`] rules in the order given.
///
/// The interrupt flag and the timeout are checked before each step, so a run always ends
/// on a completed iteration.
pub struct Driver<'a, T: Scalar> {
    max_iters: usize,
    stops: Vec<Stop>,
    reference: Option<(ArrayD<f32>, f64)>,
    observers: Vec<Box<dyn Observer<T> + 'a>>,
    interrupt: Option<Arc<AtomicBool>>,
    timeout: Option<Duration>,
    divergence_factor: f64,
}

impl<T: Scalar> Default for Driver<'_, T> {
    /// 100 iterations, no stopping rule.
    fn default() -> Self {
        Driver::new(100)
    }
}

impl<'a, T: Scalar> Driver<'a, T> {
    /// A driver that runs at most `max_iters` steps.
    pub fn new(max_iters: usize) -> Self {
        Driver {
            max_iters,
            stops: Vec::new(),
            reference: None,
            observers: Vec::new(),
            interrupt: None,
            timeout: None,
            divergence_factor: 1e6,
        }
    }

    /// Replace the iteration limit.
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }

    /// Add a stopping rule (several may be given; the first satisfied wins).
    pub fn stop_when(mut self, stop: Stop) -> Self {
        self.stops.push(stop);
        self
    }

    /// Track PSNR against `reference` (same shape as the iterate) with the given data
    /// range (e.g. 1.0 for images in [0, 1]).
    pub fn reference(mut self, reference: ArrayD<f32>, data_range: f64) -> Self {
        self.reference = Some((reference, data_range));
        self
    }

    /// Add an observer.
    pub fn observe(mut self, observer: Box<dyn Observer<T> + 'a>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Stop (with [`Termination::Interrupted`]) once `flag` is set, e.g. by a Ctrl-C handler.
    pub fn interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Stop (with [`Termination::Timeout`]) once this much wall-clock time has passed.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Growth factor of the relative residual over its best value that counts as
    /// divergence (default `1e6`; `f64::INFINITY` disables the check; must be > 1).
    pub fn divergence_factor(mut self, factor: f64) -> Self {
        self.divergence_factor = factor;
        self
    }

    fn validate(&self, shape: &[usize]) -> Result<()> {
        for s in &self.stops {
            let t = s.threshold();
            let ok = match s {
                Stop::ObjectiveBelow(_) => t.is_finite(),
                _ => t.is_finite() && t >= 0.0,
            };
            if !ok {
                return Err(Error::param(
                    s.criterion(),
                    format!("stopping threshold must be finite and >= 0, got {t}"),
                ));
            }
        }
        if self.divergence_factor.is_nan() || self.divergence_factor <= 1.0 {
            return Err(Error::param(
                "divergence_factor",
                format!("must be > 1, got {}", self.divergence_factor),
            ));
        }
        if let Some((r, range)) = &self.reference {
            crate::ops::check_shape(shape, r.shape(), "driver reference image")?;
            if !(range.is_finite() && *range > 0.0) {
                return Err(Error::param(
                    "data_range",
                    format!("must be finite and > 0, got {range}"),
                ));
            }
        }
        Ok(())
    }

    /// Run `solver` until a termination condition holds.
    ///
    /// Errors: [`Error::Param`] for an invalid stopping rule or a rule the solver cannot
    /// evaluate (detected after the first step), [`Error::Shape`] for a reference of the
    /// wrong shape, [`Error::Diverged`] on divergence, and any error of the solver's step or
    /// of an observer.
    pub fn run<S>(mut self, solver: &mut S) -> Result<Report<T>>
    where
        S: Iterative<Elem = T> + ?Sized,
    {
        self.validate(solver.current().shape())?;
        let name = solver.name();
        let diverged = |iteration: usize, reason: String| Error::Diverged {
            solver: name.to_string(),
            iteration,
            reason,
        };
        let start = Instant::now();
        let mut history: Vec<IterRecord> = Vec::with_capacity(self.max_iters.min(1 << 14));
        let mut best_residual = f64::INFINITY;
        let mut termination = Termination::MaxIters;
        for iter in 1..=self.max_iters {
            if let Some(flag) = &self.interrupt
                && flag.load(Ordering::Relaxed)
            {
                termination = Termination::Interrupted;
                break;
            }
            if let Some(limit) = self.timeout
                && start.elapsed() >= limit
            {
                termination = Termination::Timeout;
                break;
            }

            let info = solver.step()?;

            let x = solver.current();
            if !all_finite(x.view()) {
                let bad = x.iter().filter(|v| !v.is_finite()).count();
                return Err(diverged(
                    iter,
                    format!("the iterate has {bad} non-finite value(s)"),
                ));
            }
            for (what, v) in [
                ("objective", info.objective),
                ("relative residual", info.rel_residual),
                ("optimality measure", info.rel_normal_residual),
            ] {
                if let Some(v) = v
                    && !v.is_finite()
                {
                    return Err(diverged(iter, format!("{what} is {v}")));
                }
            }
            if let Some(v) = info.rel_change
                && v.is_nan()
            {
                return Err(diverged(iter, "relative change is NaN".into()));
            }
            if let Some(r) = info.rel_residual {
                let floor = best_residual.max(1e-9);
                if r > self.divergence_factor * floor {
                    return Err(diverged(
                        iter,
                        format!(
                            "relative residual {r:.3e} grew more than {:e} times above its best value {best_residual:.3e}",
                            self.divergence_factor
                        ),
                    ));
                }
                best_residual = best_residual.min(r);
            }
            if iter == 1 {
                for s in &self.stops {
                    if !s.available(&info) {
                        return Err(Error::param(
                            s.criterion(),
                            format!(
                                "{name} does not report this quantity; choose another stopping rule"
                            ),
                        ));
                    }
                }
            }

            let psnr = self
                .reference
                .as_ref()
                .map(|(r, range)| psnr(x.view(), r.view(), *range));
            let counts = solver.counts();
            let rec = IterRecord {
                iter,
                objective: info.objective,
                rel_residual: info.rel_residual,
                rel_normal_residual: info.rel_normal_residual,
                rel_change: info.rel_change,
                psnr,
                forward: counts.forward,
                adjoint: counts.adjoint,
                seconds: start.elapsed().as_secs_f64(),
            };
            for obs in &mut self.observers {
                obs.observe(&rec, x.view())?;
            }
            let prev_objective = history.last().and_then(|r| r.objective);
            let met = info.converged.clone().or_else(|| {
                self.stops
                    .iter()
                    .find_map(|s| s.check(&rec, prev_objective))
            });
            history.push(rec);
            if let Some(c) = met {
                termination = Termination::Converged(c);
                break;
            }
        }
        let report = Report {
            x: solver.current().to_owned(),
            iterations: history.len(),
            termination,
            history,
            counts: solver.counts(),
            elapsed: start.elapsed(),
            solver: name,
        };
        for obs in &mut self.observers {
            obs.finish(&report)?;
        }
        Ok(report)
    }
}

/// Whether every element is finite; branch-free over contiguous memory so it vectorizes.
fn all_finite<T: Scalar>(x: ArrayViewD<T>) -> bool {
    match x.as_slice_memory_order() {
        Some(s) => s
            .chunks(4096)
            .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite())),
        None => x.iter().all(|v| v.is_finite()),
    }
}

/// PSNR of `x` (its magnitude when complex) against `reference`, in dB.
fn psnr<T: Scalar>(x: ArrayViewD<T>, reference: ArrayViewD<f32>, data_range: f64) -> f64 {
    let n = reference.len().max(1) as f64;
    let sse: f64 = x
        .iter()
        .zip(reference.iter())
        .map(|(&v, &r)| {
            let v = if T::IS_COMPLEX { v.abs() } else { v.re() };
            let d = v as f64 - r as f64;
            d * d
        })
        .sum();
    10.0 * (data_range * data_range / (sse / n)).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::c32;
    use ndarray::IxDyn;

    /// A toy method with known trajectories: `x_k = x_{k-1} / 2` (so the "residual"
    /// `‖x_k‖/‖x_0‖ = 2^-k`), plus hooks to break it at a chosen iteration.
    struct Halving<T: Scalar> {
        x: ArrayD<T>,
        x0_norm: f64,
        k: usize,
        nan_iterate_at: Option<usize>,
        nan_objective_at: Option<usize>,
        blow_up_from: Option<usize>,
        converge_at: Option<usize>,
        report_residual: bool,
        sleep: Option<Duration>,
    }

    impl<T: Scalar> Halving<T> {
        fn new(x0: ArrayD<T>) -> Self {
            let x0_norm = crate::linalg::norm2(x0.view());
            Halving {
                x: x0,
                x0_norm,
                k: 0,
                nan_iterate_at: None,
                nan_objective_at: None,
                blow_up_from: None,
                converge_at: None,
                report_residual: true,
                sleep: None,
            }
        }
    }

    impl<T: Scalar> Iterative for Halving<T> {
        type Elem = T;
        fn name(&self) -> &'static str {
            "halving"
        }
        fn step(&mut self) -> Result<StepInfo> {
            self.k += 1;
            if let Some(d) = self.sleep {
                std::thread::sleep(d);
            }
            let factor = match self.blow_up_from {
                Some(k) if self.k >= k => 1000.0,
                _ => 0.5,
            };
            self.x.mapv_inplace(|v| v * factor);
            if self.nan_iterate_at == Some(self.k) {
                self.x[[0]] = T::from_real(f32::NAN);
            }
            let n = crate::linalg::norm2(self.x.view());
            let objective = if self.nan_objective_at == Some(self.k) {
                f64::NAN
            } else {
                0.5 * n * n
            };
            Ok(StepInfo {
                objective: Some(objective),
                rel_residual: self.report_residual.then_some(n / self.x0_norm),
                rel_normal_residual: Some(n / self.x0_norm),
                // x_{k-1} = x_k / factor: |x_k - x_{k-1}| / |x_k| = |1 - 1/factor|
                rel_change: Some((1.0 - 1.0 / factor as f64).abs()),
                converged: (self.converge_at == Some(self.k)).then_some(Convergence {
                    criterion: "toy",
                    value: 0.0,
                    threshold: 0.0,
                }),
            })
        }
        fn current(&self) -> ArrayViewD<'_, T> {
            self.x.view()
        }
        fn counts(&self) -> OpCounts {
            OpCounts {
                forward: self.k as u64,
                adjoint: 2 * self.k as u64,
            }
        }
    }

    fn toy() -> Halving<f32> {
        Halving::new(ArrayD::from_elem(IxDyn(&[4]), 1.0f32))
    }

    #[test]
    fn max_iters_termination() {
        let mut s = toy();
        let r = Driver::new(5).run(&mut s).unwrap();
        assert_eq!(r.iterations, 5);
        assert_eq!(r.termination, Termination::MaxIters);
        assert_eq!(r.history.len(), 5);
        assert_eq!(r.history[4].iter, 5);
        assert_eq!(
            r.counts,
            OpCounts {
                forward: 5,
                adjoint: 10
            }
        );
        assert_eq!((r.history[2].forward, r.history[2].adjoint), (3, 6));
        assert!(r.x.iter().all(|&v| v == 1.0 / 32.0));
        let s = r.summary();
        assert!(
            s.starts_with("halving: 5 iterations (max iterations), 5 A, 10 A^H, "),
            "{s}"
        );
        // Zero iterations returns the start.
        let mut s = toy();
        let r = Driver::new(0).run(&mut s).unwrap();
        assert_eq!((r.iterations, r.termination), (0, Termination::MaxIters));
        assert!(r.x.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn each_stop_criterion_fires_at_the_right_iteration() {
        // rel_residual = 2^-k: first k with 2^-k <= 1e-3 is 10.
        let r = Driver::new(100)
            .stop_when(Stop::RelResidual(1e-3))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.iterations, 10);
        match &r.termination {
            Termination::Converged(c) => {
                assert_eq!(c.criterion, "rel_residual");
                assert_eq!(c.value, 2f64.powi(-10));
                assert_eq!(c.threshold, 1e-3);
            }
            t => panic!("{t:?}"),
        }
        assert!(
            r.summary()
                .contains("converged: rel_residual 9.77e-4 vs 1e-3")
        );

        let r = Driver::new(100)
            .stop_when(Stop::RelNormalResidual(0.1))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.iterations, 4); // 2^-4 = 0.0625

        // rel_change is always 1 for the halving map: fires at once for tol 1, never below.
        let r = Driver::new(7)
            .stop_when(Stop::RelChange(0.99))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.termination, Termination::MaxIters);
        let r = Driver::new(7)
            .stop_when(Stop::RelChange(1.0))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.iterations, 1);

        // objective = 0.5 * 4 * 4^-k = 2 * 4^-k <= 2e-4 first at k = 7 (4^7 = 16384).
        let r = Driver::new(100)
            .stop_when(Stop::ObjectiveBelow(2e-4))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.iterations, 7);

        // |f_k - f_{k-1}| / f_k = 3 always: fires for tol >= 3, and never on iteration 1.
        let r = Driver::new(100)
            .stop_when(Stop::RelObjectiveChange(3.0))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.iterations, 2);
        let r = Driver::new(6)
            .stop_when(Stop::RelObjectiveChange(2.9))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.termination, Termination::MaxIters);

        // Several rules: the first satisfied wins.
        let r = Driver::new(100)
            .stop_when(Stop::RelResidual(1e-9))
            .stop_when(Stop::RelNormalResidual(0.3))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.iterations, 2);
    }

    #[test]
    fn solver_convergence_and_unavailable_or_invalid_rules() {
        let mut s = toy();
        s.converge_at = Some(3);
        let r = Driver::new(10).run(&mut s).unwrap();
        assert_eq!(r.iterations, 3);
        assert!(matches!(&r.termination, Termination::Converged(c) if c.criterion == "toy"));

        let mut s = toy();
        s.report_residual = false;
        let e = Driver::new(10)
            .stop_when(Stop::RelResidual(1e-3))
            .run(&mut s)
            .unwrap_err();
        assert!(matches!(e, Error::Param { .. }), "{e}");
        assert!(e.to_string().contains("halving does not report"), "{e}");

        for bad in [Stop::RelChange(-1.0), Stop::RelResidual(f64::NAN)] {
            assert!(Driver::new(10).stop_when(bad).run(&mut toy()).is_err());
        }
        assert!(
            Driver::new(10)
                .divergence_factor(0.5)
                .run(&mut toy())
                .is_err()
        );
    }

    #[test]
    fn interrupt_flag_stops_after_the_current_iteration() {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let r = Driver::new(100)
            .interrupt(flag.clone())
            .observe(Box::new(Callback::new(move |rec: &IterRecord| {
                if rec.iter == 3 {
                    f2.store(true, Ordering::Relaxed);
                }
            })))
            .run(&mut toy())
            .unwrap();
        assert_eq!(r.termination, Termination::Interrupted);
        assert_eq!(r.iterations, 3);
        // Raised before the run: no step at all.
        let r = Driver::new(100).interrupt(flag).run(&mut toy()).unwrap();
        assert_eq!((r.iterations, r.termination), (0, Termination::Interrupted));
    }

    #[test]
    fn timeout_stops_the_run() {
        let mut s = toy();
        s.sleep = Some(Duration::from_millis(20));
        let r = Driver::new(10_000)
            .timeout(Duration::from_millis(50))
            .run(&mut s)
            .unwrap();
        assert_eq!(r.termination, Termination::Timeout);
        assert!((1..=4).contains(&r.iterations), "{}", r.iterations);
        assert!(r.elapsed >= Duration::from_millis(50));
    }

    #[test]
    fn non_finite_iterates_and_values_are_divergence_errors() {
        let mut s = toy();
        s.nan_iterate_at = Some(4);
        match Driver::new(10).run(&mut s).unwrap_err() {
            Error::Diverged {
                solver,
                iteration,
                reason,
            } => {
                assert_eq!((solver.as_str(), iteration), ("halving", 4));
                assert!(reason.contains("1 non-finite"), "{reason}");
            }
            e => panic!("{e}"),
        }
        let mut s = toy();
        s.nan_objective_at = Some(2);
        assert!(matches!(
            Driver::new(10).run(&mut s),
            Err(Error::Diverged { iteration: 2, .. })
        ));
        // Residual growth: halves for 3 steps (best 1/8), then x1000 per step.
        // 1/8 * 1000^k > 1e6 / 8 first for k = 3, i.e. iteration 6.
        let mut s = toy();
        s.blow_up_from = Some(4);
        match Driver::new(20).run(&mut s).unwrap_err() {
            Error::Diverged {
                iteration, reason, ..
            } => {
                assert_eq!(iteration, 6, "{reason}");
                assert!(reason.contains("grew more than"), "{reason}");
            }
            e => panic!("{e}"),
        }
        // ... and the check can be switched off.
        let mut s = toy();
        s.blow_up_from = Some(4);
        let r = Driver::new(6)
            .divergence_factor(f64::INFINITY)
            .run(&mut s)
            .unwrap();
        assert_eq!(r.iterations, 6);
    }

    #[test]
    fn json_log_lines_parse_back() {
        let mut log = JsonLog::new(Vec::new());
        let r = Driver::new(4)
            .observe(Box::new(&mut log))
            .run(&mut toy())
            .unwrap();
        let text = String::from_utf8(log.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        for (i, line) in lines[..4].iter().enumerate() {
            let rec: IterRecord = serde_json::from_str(line).unwrap();
            assert_eq!(rec, r.history[i]);
            assert_eq!(rec.iter, i + 1);
            assert_eq!(rec.rel_residual, Some(2f64.powi(-(i as i32 + 1))));
            assert_eq!(rec.psnr, None);
        }
        let v: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
        let s = &v["summary"];
        assert_eq!(s["solver"], "halving");
        assert_eq!(s["iterations"], 4);
        assert_eq!(s["termination"]["reason"], "max_iters");
        assert_eq!(s["forward"], 4);
        assert_eq!(s["adjoint"], 8);
        assert!(s["seconds"].as_f64().unwrap() >= 0.0);
    }

    #[test]
    fn psnr_against_reference_real_and_complex() {
        // Iterates are 2^-k on 4 pixels; reference is 0: MSE = 4^-k, PSNR = 10 log10(4^k).
        let reference = ArrayD::<f32>::zeros(IxDyn(&[4]));
        let r = Driver::new(3)
            .reference(reference.clone(), 1.0)
            .run(&mut toy())
            .unwrap();
        for rec in &r.history {
            let want = 10.0 * 4f64.powi(rec.iter as i32).log10();
            assert!((rec.psnr.unwrap() - want).abs() < 1e-9);
        }
        // Complex iterate (3 + 4i)/2^k: magnitude 5/2^k; reference 5 -> error 5(1 - 2^-k).
        let z = ArrayD::from_elem(IxDyn(&[4]), c32::new(3.0, 4.0));
        let mut s = Halving::new(z);
        let r = Driver::new(2)
            .reference(ArrayD::from_elem(IxDyn(&[4]), 5.0), 10.0)
            .run(&mut s)
            .unwrap();
        let want = 10.0 * (100.0f64 / (5.0f64 * 0.75).powi(2)).log10();
        assert!((r.history[1].psnr.unwrap() - want).abs() < 1e-5);
        // Wrong shape or range: refused.
        let e = Driver::new(2)
            .reference(ArrayD::zeros(IxDyn(&[5])), 1.0)
            .run(&mut toy())
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }));
        assert!(
            Driver::new(2)
                .reference(reference, 0.0)
                .run(&mut toy())
                .is_err()
        );
    }

    #[test]
    fn inspect_sees_iterates_and_its_errors_abort() {
        let mut sums = Vec::new();
        Driver::new(3)
            .observe(Box::new(Inspect::new(
                |_: &IterRecord, x: ArrayViewD<f32>| {
                    sums.push(x.sum());
                    Ok(())
                },
            )))
            .run(&mut toy())
            .unwrap();
        assert_eq!(sums, vec![2.0, 1.0, 0.5]);
        let e = Driver::new(3)
            .observe(Box::new(Inspect::new(
                |r: &IterRecord, _: ArrayViewD<f32>| {
                    if r.iter == 2 {
                        Err(Error::param("observer", "stop"))
                    } else {
                        Ok(())
                    }
                },
            )))
            .run(&mut toy())
            .unwrap_err();
        assert!(e.to_string().contains("observer"));
    }
}
