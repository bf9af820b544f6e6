//! The generative priors shipped with the project (`weights/`, listed in `MANIFEST.json`
//! with the command that reproduces each), and how specs name them:
//! `prior=vae|gan` with `data=mnist|fashion`, or `weights=FILE` for one's own.

use burn_tensor::Device;
use posterior::{Error, Result};

use super::GenPrior;
use crate::learned::shipped_entry;
use crate::weights::verify_sha256;

/// `(name, bytes)` of each shipped generative model.
const SHIPPED: &[(&str, &[u8])] = &[
    (
        "vae-mnist",
        include_bytes!("../../weights/vae-mnist.safetensors"),
    ),
    (
        "gan-mnist",
        include_bytes!("../../weights/gan-mnist.safetensors"),
    ),
    (
        "vae-fashion",
        include_bytes!("../../weights/vae-fashion.safetensors"),
    ),
    (
        "gan-fashion",
        include_bytes!("../../weights/gan-fashion.safetensors"),
    ),
];

/// Names of the shipped generative models.
pub fn names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(n, _)| *n).collect()
}

/// A shipped model by name (`vae-mnist`, ...), verified against the manifest's SHA-256.
pub fn shipped(name: &str, device: Device) -> Result<GenPrior> {
    let Some((_, bytes)) = SHIPPED.iter().find(|(n, _)| *n == name) else {
        return Err(Error::param(
            "prior",
            format!("no shipped model `{name}`; valid: {}", names().join(", ")),
        ));
    };
    let entry = shipped_entry(name)?;
    verify_sha256(bytes, &entry)?;
    GenPrior::from_bytes(bytes, &format!("weights/{}", entry.file), device)
}

/// The prior a spec names: `weights` (a file from `posterior train vae|gan`) when given,
/// else the shipped `{prior}-{data}` model (`prior`: vae | gan, `data`: mnist | fashion).
pub fn resolve(prior: &str, data: &str, weights: Option<&str>, device: Device) -> Result<GenPrior> {
    if let Some(path) = weights {
        return GenPrior::from_file(std::path::Path::new(path), device);
    }
    if !matches!(prior, "vae" | "gan") {
        return Err(Error::param(
            "prior",
            format!("unknown prior `{prior}`; valid: vae, gan (or weights=FILE)"),
        ));
    }
    if !matches!(data, "mnist" | "fashion") {
        return Err(Error::param(
            "data",
            format!("unknown data `{data}`; valid: mnist, fashion"),
        ));
    }
    shipped(&format!("{prior}-{data}"), device)
}
