//! Plug-and-Play and RED methods: `pnp-admm`, `pnp-hqs`, `pnp-drs`, `pnp-pgd`, `dpir`, `red`
//! (the algorithms are in [`crate::solve::pnp`]).
//!
//! `denoiser=` names a denoiser spec ([`crate::denoise::build_denoiser`]); its own options
//! are given after a `;` instead of `:` and separated by `;` instead of `,`, because `,`
//! separates the method's keys: `pnp-admm:denoiser=bm3d;profile=high,iters=40`.
//!
//! Default levels, all derived from the noise level `σ_n` of the measurements (the
//! simulation's `σ` when known, else estimated; see [`super::map::noise_level`]):
//! - `dpir` (Zhang et al., "Plug-and-play image restoration with deep denoiser prior", IEEE
//!   TPAMI 44(10), 2021): half-quadratic splitting with `K = 24` iterations (the paper's
//!   super-resolution setting; its deblurring uses 8), denoiser levels
//!   log-spaced from `σ_1 = 49/255` down to `σ_n`, and data weights
//!   `ρ_k = λ σ_n²/σ_k²` with `λ = 0.23` (the paper's deblurring setting);
//! - `pnp-admm`, `pnp-hqs`, `pnp-drs`: the same annealing over the first two
//!   thirds of the iterations (`iters = 20` for `pnp-admm`, 30 for the others), then fixed
//!   at `σ_n` until the relative change of the iterate falls below `tol = 1e-4`; `sigma=`
//!   fixes the denoiser level and `rho=` the penalty instead. Default penalty
//!   `ρ_k = λ σ_n²/σ_k²` with
//!   * `λ = 1/2` for `pnp-admm`: chosen on the tuning image (astronaut 256², σ_n = 0.01,
//!     BM3D; see BENCHMARKS.md "Plug-and-Play against the Python peers"): against `λ = 1`
//!     and 30 iterations it gained +0.38 dB on Gaussian deblurring and +0.10 dB on SR x2,
//!     lost 0.10 dB on 70 %-missing inpainting, with a third fewer denoiser calls. With a
//!     denoiser `D(·, σ) = prox_{σ² φ}` the ADMM fixed point at `σ_k = σ_n` is the MAP
//!     estimate for `½‖Ax − y‖² + λ σ_n² φ(x)`, so `λ < 1` weighs the denoiser's implicit
//!     prior below its Bayesian weight 1; BM3D is not such a prox, and the choice is
//!     empirical. On the tuning deblurring problem the PSNR peaks during the annealing
//!     and drifts down by about 0.2 dB over 30 further iterations, so more iterations do
//!     not pay;
//!     on denoising (`AᴴA = I`) the default is `λ = 1` instead, whose fixed point is the
//!     denoiser's own estimate `D(y, σ_n)` (camera, σ = 0.05: 32.99 dB, the same as one
//!     BM3D call, against 29.93 with `λ = 1/2`, which leaves noise in);
//!   * `λ = 1` for `pnp-drs` (the Bayesian weight; its fixed point with `σ_k = σ_n` on
//!     denoising is `D(y, σ_n)` itself; not retuned);
//!   * DPIR's `λ = 0.23` for `pnp-hqs`, which ends on a denoising step.
//!
//!   With both `sigma=` and `rho=` given the iteration is the classical fixed-parameter
//!   PnP, whose fixed point with a linear symmetric denoiser is a known quadratic problem;
//! - `pnp-pgd` steps `γ = 1/‖A‖²` and has no penalty. With `D(·, σ) = prox_{σ² φ}` its
//!   fixed point at level `σ` weighs `φ` by `σ²/γ`, so its default levels are the others'
//!   times `√γ = 1/‖A‖`: annealed from `σ_1/‖A‖` to `σ_n/‖A‖` over the first
//!   [`PGD_ANNEAL`] = 20 iterations (the Bayesian weight `σ_n²` at the end; an annealing
//!   start below the end level means a fixed level), then up to [`PGD_ITERS`] = 150
//!   iterations. Before session 24 the levels were the others' (`σ_n` on
//!   `sr:factor=2`, whose `‖A‖² ≈ 1/4`, weighed the prior by a quarter; CT's image-level
//!   cap 0.06 with `‖A‖ ≈ 121` 200 times above `σ_n²`) and 30 plain steps: camera 256² fell
//!   5.46 dB below TV on CT and 0.40 dB on deblurring. A gradient step `1/‖A‖²` moves a
//!   component at the mean eigenvalue of `AᴴA` by `1/`[`gram_spread`] of what it moves
//!   the top one; where that spread exceeds [`PGD_FISTA_SPREAD`] = 50 (CT: 387 at 256²,
//!   against 1–32 for the six other operators) the default is FISTA (`accel=true`), which
//!   then runs all its iterations (`tol = 0`: its change per iteration falls below `1e-4`
//!   long before it has converged); elsewhere plain steps, stopped at `tol = 1e-4`. FISTA
//!   is not the default everywhere: on MRI, inpainting and SR its iterates peak at the
//!   end of the annealing and then drift down (astronaut MRI: 26.03 dB at iteration 20,
//!   24.43 at 150; camera 31.46 → 30.29), while plain steps rise to the end (26.17,
//!   30.92; BENCHMARKS.md, session 24);
//! - except in `pnp-pgd`, the last level `σ_n` is capped at [`IMAGE_LEVEL_CAP`] = 0.06
//!   (keeping the coupled penalty, hence the prior's weight) when
//!   `‖A‖ >` [`SCALE_FREE_NORM`]: then `A` changes the intensity scale (CT line integrals, Gaussian compressed sensing), `σ_n` is on the
//!   measurements' scale, and the denoiser must still be run at levels that make sense for
//!   a `[0, 1]` image. `sigma_end=` (or `dpir`'s `sigma=`) sets the last level explicitly;
//!   the same cap applies to `red`'s default level `2.3 σ_n`;
//! - `red` (Romano, Elad & Milanfar 2017): `λ = 0.02 (255 σ_n)²` (their `λ = 0.02` with
//!   the `1/(2σ²)` data term on the `[0, 255]` scale) and denoiser level `σ_d = 2.3 σ_n`
//!   (their `σ_f = 3.25` for `σ = √2`), floored at `1/255`, solved by the fixed-point
//!   iteration with FISTA extrapolation (`accel=true`; 50 iterations). That iteration
//!   `x ↦ (AᴴA + λI)⁻¹(Aᴴy + λ D(x))` is a proximal gradient step of step `1/λ` on the RED
//!   objective (Reehorst & Schniter, IEEE TCI 5(1), 2019), and the plain form contracts by
//!   only `λ/(λ + s²)` per step along a singular value `s` of `A`: on MRI's unsampled
//!   frequencies (`s = 0`) not at all but through `D`. Camera, `mri:accel=4`, σ = 0.01:
//!   the plain iteration reaches 28.27 dB in 50 iterations and 31.67 in 200, the
//!   extrapolated one 31.59 in 50 (BENCHMARKS.md, session 24).
//!   On denoising (`AᴴA = I`) the level is `σ_d = σ_n/2` and `λ = (σ_n/σ_d)² = 4` instead:
//!   for a denoiser `D(·, σ) = prox_{σ² φ}`, `x − D(x, σ_d) ≈ σ_d² ∇φ(x)` for small `σ_d`,
//!   so `λ σ_d² = σ_n²` is the Bayesian weight; the deblurring rule weighs the prior by
//!   `λ σ_d²/σ_n² = 0.02 · 255² · 2.3² σ_n²`, 0.69 at `σ_n = 0.01` but 17 at the 0.05 of a
//!   typical denoising problem (camera, σ = 0.05: 29.12 dB, below TV's 31.55; 32.40 now).
//!
//! Every PnP scheme (not `red`) cycles its denoiser's input through the eight flips and
//! rotations, one per iteration, and turns the output back (`transforms=cycle`, the
//! periodical geometric self-ensemble of DPIR; see [`crate::solve::pnp::Transforms`]);
//! `transforms=none` turns it off. It costs nothing: one denoiser call per iteration
//! either way. `red` keeps one orientation (`transforms=none`), since its fixed-point
//! equation is that of one denoiser.
//!
//! Every method starts from a lightly regularized gradient-Tikhonov estimate (see
//! `super::map::tikhonov_start`), not from the back-projection.
//!
//! Data steps: exact for denoising, circular blur, inpainting and MRI (Fourier/pixel
//! diagonal Gram), Zhao et al.'s closed form for `sr`, and `cg=10` warm-started conjugate
//! gradient iterations per step otherwise (CT, CS).
//!
//! Complex images (`mri:complex=true`) are denoised part by part (real and imaginary parts
//! separately, see [`PnpElem`]).

use ndarray::ArrayViewD;

use super::map::{SCALE_FREE_NORM, lipschitz, noise_level, tikhonov_start};
use super::{ArrayElem, Outcome, RunOptions, driver_for, outcome};
use crate::denoise::{Denoiser, build_denoiser};
use crate::error::{Error, Result};
use crate::io::AnyArray;
use crate::ops::counted::Counted;
use crate::ops::{AnyOperator, Gram, LinearOperator};
use crate::scalar::c32;
use crate::solve::pnp::{
    DataSolve, Penalty, Pnp, PnpElem, PnpParams, Schedule, Scheme, Transforms,
};
use crate::solve::quadratic::ShiftedNormal;
use crate::spec::{Args, Spec};

/// DPIR's first denoiser level, 49/255.
pub const SIGMA1: f32 = 49.0 / 255.0;
/// DPIR's `λ` for deblurring.
pub const DPIR_LAMBDA: f32 = 0.23;
/// `pnp-admm`'s default coupling `λ` in `ρ_k = λ σ_n²/σ_k²`, tuned on astronaut 256²
/// (σ_n = 0.01; deblurring, SR x2, inpainting with BM3D; see the module docs).
pub const PNP_ADMM_LAMBDA: f32 = 0.5;
/// The largest default last denoiser level when the operator changes the intensity scale
/// (`‖A‖ >` [`SCALE_FREE_NORM`], e.g. CT): there `σ_n` is on the measurements' scale (0.5 on
/// a CT sinogram is a mild noise level) and a denoiser run at it would flatten a `[0, 1]`
/// image. The coupling `ρ_k = λ σ_n²/σ_k²` keeps the prior's weight; only the level at
/// which the denoiser is applied is capped. 0.06 is the best fixed level on the CT tuning
/// problem (astronaut 256², 60 angles, σ_n = 0.5; BENCHMARKS.md "CT: PnP-BM3D").
pub const IMAGE_LEVEL_CAP: f32 = 0.06;
/// `pnp-admm`'s default iteration limit (the annealing takes the first 14).
pub const PNP_ADMM_ITERS: usize = 20;

/// `red`'s default denoiser level on denoising (`AᴴA = I`), as a multiple of `σ_n`.
pub const RED_DENOISE_LEVEL: f32 = 0.5;
/// The smallest default level of `red`, 1/255.
pub const RED_MIN_LEVEL: f32 = 1.0 / 255.0;
/// `pnp-pgd` accelerates (FISTA) by default when [`gram_spread`] exceeds this.
pub const PGD_FISTA_SPREAD: f64 = 50.0;
/// `pnp-pgd`'s default iteration limit.
pub const PGD_ITERS: usize = 150;
/// `pnp-pgd`'s default number of annealing iterations.
pub const PGD_ANNEAL: usize = 20;

/// The `transforms` key of the PnP schemes.
const TRANSFORMS_HELP: &str = "cycle | none: iteration k denoises the (k mod 8)-th flip/rotation of its input and turns the result back (DPIR's periodical geometric self-ensemble; default cycle)";

/// Keys of `pnp-admm`, `pnp-hqs` and `pnp-drs`.
pub const PNP_KEYS: &[(&str, &str)] = &[
    (
        "denoiser",
        "denoiser spec, options after `;` (default bm3d; e.g. bm3d;profile=high)",
    ),
    (
        "iters",
        "iteration limit (default 20 for pnp-admm, 30 for pnp-hqs and pnp-drs)",
    ),
    (
        "tol",
        "relative change of x below which the iteration stops once sigma has settled (default 1e-4; 0 = all iterations)",
    ),
    (
        "sigma",
        "fixed denoiser level (default: annealed from sigma1 to sigma_end over the first 2/3 of the iterations)",
    ),
    (
        "sigma1",
        "first denoiser level of the annealing (default 49/255)",
    ),
    (
        "sigma_end",
        "last denoiser level of the annealing (default the noise level sigma_n, at most 0.06 when ||A|| > 1.5, e.g. CT)",
    ),
    (
        "lambda",
        "coupling of the penalty to the denoiser level, rho_k = lambda sigma_n^2 / sigma_k^2 (default 0.5 for pnp-admm (1 on denoising), 1 for pnp-drs, 0.23 for pnp-hqs)",
    ),
    ("rho", "fixed penalty (default: coupled to sigma_k)"),
    (
        "cg",
        "CG iterations per data step when there is no closed form (default 10)",
    ),
    ("transforms", TRANSFORMS_HELP),
];

/// Keys of `pnp-pgd`.
pub const PGD_KEYS: &[(&str, &str)] = &[
    (
        "denoiser",
        "denoiser spec, options after `;` (default bm3d)",
    ),
    ("iters", "iteration limit (default 150)"),
    (
        "tol",
        "relative change of x below which the iteration stops once sigma has settled (default 1e-4; 0 with the default FISTA)",
    ),
    (
        "sigma",
        "fixed denoiser level (default: annealed from sigma1 to sigma_end)",
    ),
    (
        "sigma1",
        "first denoiser level of the annealing (default (49/255) sqrt(step), i.e. (49/255)/||A|| with the default step)",
    ),
    (
        "sigma_end",
        "last denoiser level of the annealing (default sigma_n sqrt(step), i.e. sigma_n/||A||: the prior weight sigma_n^2 after a gradient step)",
    ),
    (
        "anneal",
        "iterations over which the level is annealed from sigma1 to sigma_end (default 20)",
    ),
    ("step", "gradient step (default 1/||A||^2)"),
    (
        "accel",
        "FISTA extrapolation (default: true when ||A||^2 exceeds the mean eigenvalue of A^H A 50-fold, e.g. CT; false otherwise)",
    ),
    ("transforms", TRANSFORMS_HELP),
];

/// Keys of `dpir`.
pub const DPIR_KEYS: &[(&str, &str)] = &[
    (
        "denoiser",
        "denoiser spec, options after `;` (default bm3d)",
    ),
    ("iters", "number of HQS iterations K (default 24)"),
    ("sigma1", "first denoiser level (default 49/255)"),
    (
        "sigma",
        "last denoiser level (default the noise level sigma_n, at most 0.06 when ||A|| > 1.5, e.g. CT)",
    ),
    (
        "lambda",
        "rho_k = lambda sigma_n^2 / sigma_k^2 (default 0.23)",
    ),
    (
        "cg",
        "CG iterations per data step when there is no closed form (default 10)",
    ),
    ("transforms", TRANSFORMS_HELP),
];

/// Keys of `red`.
pub const RED_KEYS: &[(&str, &str)] = &[
    (
        "denoiser",
        "denoiser spec, options after `;` (default bm3d)",
    ),
    ("solver", "fp | gd | admm (default fp)"),
    (
        "lambda",
        "weight of the RED prior (lambda/2) x^T (x - D(x)) (default 0.02 (255 sigma_n)^2; on denoising (sigma_n/sigma)^2)",
    ),
    (
        "sigma",
        "denoiser level (default max(2.3 sigma_n, 1/255), at most 0.06 when ||A|| > 1.5, e.g. CT; on denoising max(sigma_n/2, 1/255))",
    ),
    ("iters", "iteration limit (default 50; gd 200)"),
    (
        "tol",
        "relative change of x below which the iteration stops (default 1e-4)",
    ),
    (
        "accel",
        "fp: FISTA extrapolation of the fixed-point iteration (default true; false: plain fixed point)",
    ),
    ("rho", "admm penalty beta (default lambda)"),
    ("step", "gd step (default 1/(||A||^2 + lambda))"),
    (
        "cg",
        "CG iterations per data step when there is no closed form (default 10)",
    ),
    (
        "transforms",
        "cycle | none: iteration k denoises the (k mod 8)-th flip/rotation of its input and turns the result back (default none: RED's fixed-point equation assumes one denoiser)",
    ),
];

/// The keys of method `name` (one of the PnP/RED methods).
pub fn keys(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match name {
        "pnp-admm" | "pnp-hqs" | "pnp-drs" => PNP_KEYS,
        "pnp-pgd" => PGD_KEYS,
        "dpir" => DPIR_KEYS,
        "red" => RED_KEYS,
        _ => return None,
    })
}

/// Build the denoiser of a `denoiser=` value: `name` or `name;key=value;key=value`.
pub fn denoiser_from(value: &str) -> Result<Box<dyn Denoiser>> {
    let spec = match value.split_once(';') {
        None => value.to_string(),
        Some((name, rest)) => format!("{name}:{}", rest.replace(';', ",")),
    };
    build_denoiser(&Spec::parse(&spec)?)
}

/// Everything resolved from the spec, before the operator's element type is known.
struct Plan {
    params: PnpParams,
    iters: usize,
    cg: usize,
    /// The step is `1/(‖A‖² + extra)` computed per operator (PGD: `extra = 0`, RED-GD: the
    /// `λ` in force).
    auto_step: bool,
    sigma_n: f32,
    /// First level of the annealing (`sigma1`).
    sigma1: f32,
    /// `pnp-admm` with its tuned default `λ`: on denoising (`AᴴA = I`) it becomes 1.
    admm_lambda_default: bool,
    /// The last denoiser level is the default `σ_n` (not given by `sigma`/`sigma_end`), so
    /// it is capped at [`IMAGE_LEVEL_CAP`] for operators that change the intensity scale.
    cap_end: bool,
    /// `pnp-pgd`: which default levels (last, first) are scaled by `√γ`.
    pgd_scale: Option<(bool, bool)>,
    /// `pnp-pgd` without `accel`: FISTA is chosen from the operator's spread
    /// ([`gram_spread`]); without `tol` it then runs all its iterations.
    pgd_auto_accel: Option<bool>,
    /// `red`: which of `sigma`, `lambda`, `rho` are defaults (they change on denoising).
    red_defaults: Option<(bool, bool, bool)>,
}

fn positive(a: &Args, key: &str) -> Result<Option<f32>> {
    match a.f32_opt(key)? {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
        Some(v) => Err(Error::param(
            key,
            format!("must be finite and > 0, got {v}"),
        )),
    }
}

fn tolerance(a: &Args, default: f64) -> Result<f64> {
    let t = match a.str_opt("tol") {
        None => default,
        Some(v) => v
            .parse::<f64>()
            .map_err(|_| Error::param("tol", format!("expects a number, got `{v}`")))?,
    };
    if !(t.is_finite() && t >= 0.0) {
        return Err(Error::param(
            "tol",
            format!("must be finite and >= 0, got {t}"),
        ));
    }
    Ok(t)
}

fn plan(name: &str, a: &Args, sigma_n: f32) -> Result<Plan> {
    let iters_default = match name {
        "dpir" => 24,
        "red" => 50,
        "pnp-admm" => PNP_ADMM_ITERS,
        "pnp-pgd" => PGD_ITERS,
        _ => 30,
    };
    let mut iters = a.usize_in("iters", iters_default, 1, 1_000_000)?;
    let cg = if a.has("cg") {
        a.usize_in("cg", 10, 1, 100_000)?
    } else {
        10
    };
    let sigma1 = positive(a, "sigma1")?.unwrap_or(SIGMA1);
    let sigma = positive(a, "sigma")?;
    let sigma_end = if a.has("sigma_end") {
        positive(a, "sigma_end")?
    } else {
        None
    };
    if sigma.is_some() && sigma_end.is_some() {
        return Err(Error::Spec(format!(
            "`{name}`: give either a fixed `sigma` or an annealing end `sigma_end`, not both"
        )));
    }
    if sigma.is_some() && a.has("anneal") {
        return Err(Error::Spec(format!(
            "`{name}`: `anneal` sets the length of the annealing, which a fixed `sigma` turns off"
        )));
    }
    let lambda = positive(a, "lambda")?;
    let rho = positive(a, "rho")?;
    // HQS ends on a denoising step and takes DPIR's λ; ADMM and DRS reach the fixed point
    // of the MAP problem ½‖Ax − y‖² + λ σ_n² R(x), whose Bayesian weight is λ = 1 (DRS);
    // ADMM's λ is tuned (PNP_ADMM_LAMBDA)
    let lambda_default = match name {
        "dpir" | "pnp-hqs" => DPIR_LAMBDA,
        "pnp-admm" => PNP_ADMM_LAMBDA,
        _ => 1.0,
    };
    let coupled = Penalty::Coupled {
        lambda: lambda.unwrap_or(lambda_default),
        sigma_noise: sigma_n,
    };
    let end = sigma_end.unwrap_or(sigma_n);
    let annealed = |anneal: usize| Schedule {
        sigma_start: sigma1.max(end),
        sigma_end: end,
        anneal,
    };
    let mut auto_step = false;
    let (scheme, schedule, penalty, step, red_lambda, tol) = match name {
        "dpir" => {
            let end = sigma.unwrap_or(sigma_n);
            let schedule = Schedule {
                sigma_start: sigma1.max(end),
                sigma_end: end,
                anneal: iters,
            };
            (Scheme::Hqs, schedule, coupled, None, 0.0, 0.0)
        }
        "red" => {
            let solver = a.choice("solver", &["fp", "gd", "admm"], "fp")?;
            let lam = lambda.unwrap_or(0.02 * (255.0 * sigma_n).powi(2));
            let sd = sigma.unwrap_or((2.3 * sigma_n).max(RED_MIN_LEVEL));
            let scheme = match solver.as_str() {
                "gd" => {
                    if !a.has("iters") {
                        iters = 200;
                    }
                    Scheme::RedGd
                }
                "admm" => Scheme::RedAdmm,
                _ => Scheme::RedFp {
                    accel: a.bool("accel", true)?,
                },
            };
            let step = match positive(a, "step")? {
                Some(s) if scheme == Scheme::RedGd => Some(s as f64),
                Some(_) => {
                    return Err(Error::Spec(format!(
                        "`red`: `step` applies to solver=gd only, not solver={solver}"
                    )));
                }
                None => {
                    auto_step = scheme == Scheme::RedGd;
                    None
                }
            };
            if a.has("accel") && !matches!(scheme, Scheme::RedFp { .. }) {
                return Err(Error::Spec(format!(
                    "`red`: `accel` applies to solver=fp only, not solver={solver}"
                )));
            }
            if rho.is_some() && scheme != Scheme::RedAdmm {
                return Err(Error::Spec(format!(
                    "`red`: `rho` applies to solver=admm only, not solver={solver}"
                )));
            }
            let penalty = Penalty::Fixed(rho.unwrap_or(lam));
            (
                scheme,
                Schedule::fixed(sd),
                penalty,
                step,
                lam,
                tolerance(a, 1e-4)?,
            )
        }
        _ => {
            let scheme = match name {
                "pnp-admm" => Scheme::Admm,
                "pnp-hqs" => Scheme::Hqs,
                "pnp-drs" => Scheme::Drs,
                _ => Scheme::Pgd {
                    accel: a.bool("accel", false)?,
                },
            };
            let schedule = match sigma {
                Some(s) => Schedule::fixed(s),
                None => {
                    let anneal_default = if name == "pnp-pgd" {
                        PGD_ANNEAL.min(iters)
                    } else {
                        (2 * iters).div_ceil(3)
                    };
                    annealed(a.usize_in("anneal", anneal_default, 1, iters)?)
                }
            };
            let penalty = match rho {
                Some(r) => Penalty::Fixed(r),
                None => coupled,
            };
            let step = if name == "pnp-pgd" {
                let s = positive(a, "step")?;
                if s.is_none() {
                    auto_step = true;
                }
                s.map(f64::from)
            } else {
                None
            };
            (scheme, schedule, penalty, step, 0.0, tolerance(a, 1e-4)?)
        }
    };
    let transforms = match a
        .choice(
            "transforms",
            &["cycle", "none"],
            if name == "red" { "none" } else { "cycle" },
        )?
        .as_str()
    {
        "cycle" => Transforms::Cycle,
        _ => Transforms::None,
    };
    // the last denoiser level is σ_n-derived unless given (RED: its fixed level 2.3 σ_n)
    let default_end = sigma.is_none() && sigma_end.is_none();
    let pgd_scale = (name == "pnp-pgd").then(|| (default_end, sigma.is_none() && !a.has("sigma1")));
    let cap_end = default_end && name != "pnp-pgd";
    Ok(Plan {
        params: PnpParams {
            scheme,
            schedule,
            penalty,
            step,
            red_lambda,
            tol,
            transforms,
        },
        iters,
        cg,
        auto_step,
        sigma_n,
        sigma1,
        admm_lambda_default: name == "pnp-admm" && lambda.is_none(),
        cap_end,
        pgd_scale,
        pgd_auto_accel: (name == "pnp-pgd" && !a.has("accel")).then_some(!a.has("tol")),
        red_defaults: (name == "red").then_some((sigma.is_none(), lambda.is_none(), rho.is_none())),
    })
}

/// One line on the schedule, penalty and transforms, for the summary.
fn describe(p: &PnpParams, sigma_n: f32) -> String {
    let (scheme, schedule) = (p.scheme, p.schedule);
    let levels = match (scheme, p.penalty) {
        (Scheme::RedGd | Scheme::RedFp { .. } | Scheme::RedAdmm, _) => format!(
            "{}, lambda = {:.3e}, sigma_d = {:.4}",
            scheme.name(),
            p.red_lambda,
            schedule.sigma_end
        ),
        (Scheme::Pgd { .. }, _) => format!(
            "{}, sigma_d = {:.4} -> {:.4}, step = {:.3e}",
            scheme.name(),
            schedule.sigma_start,
            schedule.sigma_end,
            p.step.unwrap_or(f64::NAN)
        ),
        (_, Penalty::Fixed(r)) => format!(
            "{}, sigma_d = {:.4} -> {:.4}, rho = {r:.3e}",
            scheme.name(),
            schedule.sigma_start,
            schedule.sigma_end
        ),
        (_, Penalty::Coupled { lambda, .. }) => format!(
            "{}, sigma_d = {:.4} -> {:.4}, rho_k = {lambda} sigma_n^2/sigma_k^2, sigma_n = {sigma_n:.4}",
            scheme.name(),
            schedule.sigma_start,
            schedule.sigma_end
        ),
    };
    match p.transforms {
        Transforms::Cycle => format!("{levels}, flips/rotations cycled"),
        Transforms::None => levels,
    }
}

/// Run a PnP/RED method (`name` one of `pnp-admm`, `pnp-hqs`, `pnp-drs`, `pnp-pgd`, `dpir`,
/// `red`) on any operator. `op_spec` identifies super-resolution, whose data step uses the
/// closed form of Zhao et al.
pub(super) fn run(
    name: &str,
    op_spec: &Spec,
    op: &AnyOperator,
    y: &AnyArray,
    method: &Spec,
    opts: &mut RunOptions,
) -> Result<Outcome> {
    let valid: Vec<&str> = keys(name)
        .ok_or_else(|| Error::Spec(format!("`{name}` is not a PnP/RED method")))?
        .iter()
        .map(|(k, _)| *k)
        .collect();
    let args = method.args(&valid)?;
    let denoiser = denoiser_from(args.str_opt("denoiser").unwrap_or("bm3d"))?;
    let measured = op.measured();
    let image_ndim = op.domain_shape().len();
    let sigma_n = noise_level(opts.noise.as_ref(), y, measured.as_ref(), image_ndim)
        .ok_or_else(|| super::map::unknown_noise(name, y, image_ndim, None))?
        as f32;
    let plan = plan(name, &args, sigma_n)?;
    match op {
        AnyOperator::Real(a) => {
            let yv = super::expect::<f32>(y, "measurements")?;
            let sr: Option<Box<dyn DataSolve<f32>>> = if op_spec.name == "sr" {
                let s = crate::ops::sr::SuperResolution::from_spec(op_spec, a.domain_shape())?;
                Some(Box::new(s.normal_solver()))
            } else {
                None
            };
            generic(a, yv, denoiser.as_ref(), sr, &plan, opts)
        }
        AnyOperator::RealToComplex(a) => generic(
            a,
            super::expect::<c32>(y, "measurements")?,
            denoiser.as_ref(),
            None,
            &plan,
            opts,
        ),
        AnyOperator::Complex(a) => generic(
            a,
            super::expect::<c32>(y, "measurements")?,
            denoiser.as_ref(),
            None,
            &plan,
            opts,
        ),
    }
}

fn generic<'a, O>(
    a: &'a O,
    y: ArrayViewD<'a, O::Range>,
    denoiser: &'a dyn Denoiser,
    data: Option<Box<dyn DataSolve<O::Domain> + 'a>>,
    plan: &Plan,
    opts: &mut RunOptions,
) -> Result<Outcome>
where
    O: LinearOperator,
    O::Domain: PnpElem + ArrayElem,
    O::Range: ArrayElem,
{
    let ca = Counted::new(a);
    let mut params = plan.params;
    let identity_gram = matches!(a.gram(), Some(Gram::Scalar(c)) if (c - 1.0).abs() < 1e-6);
    // RED on denoising: the level σ_n/2 and the weight λ = (σ_n/σ_d)² (see the module docs)
    if let (Some((sigma_default, lambda_default, rho_default)), true) =
        (plan.red_defaults, identity_gram)
    {
        if sigma_default {
            params.schedule =
                Schedule::fixed((RED_DENOISE_LEVEL * plan.sigma_n).max(RED_MIN_LEVEL));
        }
        if lambda_default {
            params.red_lambda = (plan.sigma_n / params.schedule.sigma_end).powi(2);
        }
        if rho_default {
            params.penalty = Penalty::Fixed(params.red_lambda);
        }
    }
    let norm2 =
        (plan.auto_step || plan.cap_end || plan.pgd_auto_accel.is_some()).then(|| lipschitz(&ca));
    if let (true, Some(l)) = (plan.auto_step, norm2) {
        let extra = if params.scheme == Scheme::RedGd {
            params.red_lambda
        } else {
            0.0
        };
        params.step = Some(1.0 / (l + extra as f64));
    }
    let mut spread = None;
    if let (Some(tol_default), Some(l)) = (plan.pgd_auto_accel, norm2) {
        let sp = gram_spread(&ca, l);
        spread = Some(sp);
        let accel = sp > PGD_FISTA_SPREAD;
        params.scheme = Scheme::Pgd { accel };
        // FISTA's change per iteration on such an operator is small long before it has
        // converged (CT: below 1e-4 from the second iteration)
        if accel && tol_default {
            params.tol = 0.0;
        }
    }
    if let (Some((end, start)), Some(gamma)) = (plan.pgd_scale, params.step) {
        let g = (gamma as f32).sqrt();
        let s = &mut params.schedule;
        if end {
            s.sigma_end *= g;
        }
        if start {
            s.sigma_start *= g;
        }
        s.sigma_start = s.sigma_start.max(s.sigma_end);
    }
    if let (true, Some(l)) = (plan.cap_end, norm2)
        && l > SCALE_FREE_NORM * SCALE_FREE_NORM
        && params.schedule.sigma_end > IMAGE_LEVEL_CAP
    {
        let s = &mut params.schedule;
        s.sigma_end = IMAGE_LEVEL_CAP;
        s.sigma_start = if s.anneal == 0 {
            IMAGE_LEVEL_CAP
        } else {
            plan.sigma1.max(IMAGE_LEVEL_CAP)
        };
    }
    // Denoising: with λ = 1 the fixed point is the denoiser's own estimate D(y, σ_n);
    // the λ tuned on ill-posed problems would leave half the noise in.
    if plan.admm_lambda_default
        && identity_gram
        && let Penalty::Coupled { lambda, .. } = &mut params.penalty
    {
        *lambda = 1.0;
    }
    let data: Option<Box<dyn DataSolve<O::Domain> + '_>> = match data {
        // the gradient schemes have no data step
        _ if matches!(params.scheme, Scheme::Pgd { .. } | Scheme::RedGd) => None,
        Some(d) => Some(d),
        None => Some(Box::new(
            ShiftedNormal::new(&ca, None)?.with_cg(plan.cg, 1e-6),
        )),
    };
    let exact = data.as_ref().map(|d| d.exact());
    let x0 = tikhonov_start(&ca, y.view(), plan.sigma_n)?;
    let mut solver = Pnp::new(&ca, y, denoiser, data, x0.view(), params)?;
    let report = driver_for(opts, plan.iters)?.run(&mut solver)?;
    let mut o = outcome(report);
    o.counts = ca.counts();
    let data_step = match exact {
        Some(true) => ", exact data step",
        Some(false) => ", CG data step",
        None => "",
    };
    let spread = match spread {
        Some(sp) => format!(", ||A||^2/mean eigenvalue = {sp:.1}"),
        None => String::new(),
    };
    o.summary = format!(
        "{} ({}{spread}{data_step}, {}): {}",
        params.scheme.name(),
        describe(&params, plan.sigma_n),
        denoiser.describe(),
        o.summary
    );
    Ok(o)
}

/// `‖A‖² / (tr(AᴴA)/n)`: how far the largest eigenvalue of `AᴴA` (`norm2`) stands above
/// its mean, which a random probe `z` estimates as `‖A z‖²/‖z‖²` (Hutchinson; one seeded
/// Gaussian probe, accurate to a few percent at image sizes). A gradient step `1/‖A‖²`
/// moves the components at the mean eigenvalue by only this fraction: 1 for denoising,
/// `1/keep` for inpainting and subsampled Fourier/orthogonal operators (3–4), about 6 for
/// `sr:factor=2` and 30 for the Gaussian blur of std 1.6, but hundreds for CT, whose
/// Gram falls off as `1/|ω|` from a large low-frequency peak.
pub fn gram_spread<O: LinearOperator + ?Sized>(a: &O, norm2: f64) -> f64 {
    use rand::SeedableRng;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
    let z = ndarray::ArrayD::from_shape_simple_fn(ndarray::IxDyn(a.domain_shape()), || {
        <O::Domain as crate::scalar::Scalar>::standard_normal(&mut rng)
    });
    let zz = crate::linalg::norm2_sq(z.view());
    let az = crate::linalg::norm2_sq(a.apply(z.view()).view());
    if az > 0.0 {
        norm2 * zz / az
    } else {
        f64::INFINITY
    }
}
