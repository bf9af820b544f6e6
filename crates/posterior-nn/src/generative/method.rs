//! The `csgm` and `csgm-sparse` reconstruction methods: latent MAP with a generative prior
//! ([`crate::csgm`]), registered with the core's method registry so `posterior reconstruct`,
//! `bench` and the library's [`posterior::methods::reconstruct`] run them.

use posterior::io::AnyArray;
use posterior::methods::{Outcome, RegisteredMethod, RunOptions, driver_for, outcome};
use posterior::ops::AnyOperator;
use posterior::{Error, Result, Spec};

use super::shipped::resolve;
use crate::csgm::{CSGM_KEYS, CSGM_SPARSE_KEYS, Csgm, CsgmParams};

/// Keys naming the prior, shared by both methods (the solver's own keys follow them).
pub const PRIOR_KEYS: &[(&str, &str)] = &[
    (
        "prior",
        "vae | gan: which shipped generative model (default vae)",
    ),
    (
        "data",
        "mnist | fashion: what it was trained on (default mnist)",
    ),
    (
        "weights",
        "a weight file from `posterior train vae|gan` instead of a shipped model",
    ),
    ("device", "cpu (default), or vulkan in a gpu-vulkan build"),
];

fn keys(
    solver: &'static [(&'static str, &'static str)],
) -> &'static [(&'static str, &'static str)] {
    let mut all: Vec<(&str, &str)> = PRIOR_KEYS.to_vec();
    all.extend_from_slice(solver);
    Box::leak(all.into_boxed_slice())
}

fn run(
    op_spec: &Spec,
    op: &AnyOperator,
    y: &AnyArray,
    method: &Spec,
    opts: &mut RunOptions,
) -> Result<Outcome> {
    let _ = op_spec;
    let prior_keys: Vec<&str> = PRIOR_KEYS.iter().map(|(k, _)| *k).collect();
    // Split the spec: the prior's keys here, the rest to the solver's parser.
    let mut solver_spec = Spec::parse(&method.name)?;
    for (k, v) in method.params() {
        if !prior_keys.contains(&k) {
            solver_spec = solver_spec.with(k, v);
        }
    }
    let mut params = CsgmParams::from_spec(&solver_spec)?;
    if params.sigma.is_none() {
        let known = opts
            .noise
            .as_ref()
            .filter(|n| !matches!(n, posterior::noise::NoiseModel::None))
            .and_then(|n| posterior::methods::map::noise_level(Some(n), y, None, 0));
        params.sigma = match known {
            Some(s) => Some(s),
            None => {
                return Err(Error::param(
                    "sigma",
                    format!(
                        "`{}` needs the noise level: give sigma=... (the noise standard deviation \
                         of the measurements) or simulate with a Gaussian noise model",
                        method.name
                    ),
                ));
            }
        };
    }
    let device = crate::device_by_name(method.raw("device").unwrap_or("cpu"))?;
    let prior = resolve(
        method.raw("prior").unwrap_or("vae"),
        method.raw("data").unwrap_or("mnist"),
        method.raw("weights"),
        device,
    )?;
    let AnyOperator::Real(a) = op else {
        return Err(Error::Spec(format!(
            "`{}` needs a real operator (denoise, cs, inpaint, sr, blur); `{}` is complex-valued",
            method.name, op_spec.name
        )));
    };
    let AnyArray::Real(yv) = y else {
        return Err(Error::Spec(
            "complex measurements need a real operator".into(),
        ));
    };
    let mut solver = Csgm::new(&prior, a.as_ref(), yv.view(), &params)?;
    let driver = driver_for::<f32>(opts, params.iters)?;
    let report = driver.run(&mut solver)?;
    Ok(outcome(report))
}

/// Register `csgm` and `csgm-sparse`. Idempotent.
pub fn register() {
    posterior::methods::register_method(RegisteredMethod {
        name: "csgm",
        summary: "latent MAP with a generative prior (Bora et al. 2017): x = G(z*), z* = argmin ||A G(z) - y||^2/(2 sigma^2) + lambda ||z||^2/2 by Adam or L-BFGS with restarts; 28x28 images",
        keys: keys(CSGM_KEYS),
        run,
    });
    posterior::methods::register_method(RegisteredMethod {
        name: "csgm-sparse",
        summary: "latent MAP allowing a sparse deviation from the generator's range (Dhar et al. 2018): x = G(z) + nu with mu ||nu||_1",
        keys: keys(CSGM_SPARSE_KEYS),
        run,
    });
}
