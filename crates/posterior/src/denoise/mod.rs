//! Denoisers: maps `y = x + σ n ↦ x̂` for additive white Gaussian noise of known standard
//! deviation `σ` (data range `[0, 1]`).
//!
//! Every denoiser implements [`Denoiser`]; Plug-and-Play and RED (and the `--method` specs
//! of the command line on the `denoise` operator) use them only through the trait, so a new
//! denoiser (classical or learned) plugs in without touching the solvers. Denoisers are
//! built from specs by [`build_denoiser`]; [`denoisers`] lists them.

pub mod bm3d;
pub mod classic;
pub mod dihedral;
pub mod nlm;
pub mod wnnm;

pub use dihedral::Dihedral;

use ndarray::{ArrayD, ArrayViewD};

use crate::error::{Error, Result};
use crate::spec::Spec;

/// A Gaussian denoiser.
pub trait Denoiser: Send + Sync {
    /// A short description for reports, e.g. `bm3d(profile=np)`.
    fn describe(&self) -> String;

    /// Denoise `y` (`[H, W]` gray or `[C, H, W]` channel-first colour, values nominally in
    /// `[0, 1]`) corrupted by white Gaussian noise of standard deviation `sigma > 0`.
    /// Errors on shapes the denoiser cannot handle (e.g. too small for its patches), never
    /// panics; the output has the shape of `y` and is finite.
    fn denoise(&self, y: ArrayViewD<f32>, sigma: f32) -> Result<ArrayD<f32>>;
}

/// A registered denoiser family.
#[derive(Clone, Copy)]
pub struct DenoiserEntry {
    /// Spec name.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Keys and their documentation (with defaults).
    pub keys: &'static [(&'static str, &'static str)],
    /// Build from a spec (the keys above).
    pub build: fn(&Spec) -> Result<Box<dyn Denoiser>>,
}

/// Denoiser families registered at run time (see [`register_denoiser`]).
static REGISTERED: std::sync::RwLock<Vec<DenoiserEntry>> = std::sync::RwLock::new(Vec::new());

/// Add a denoiser family to the registry, so that [`build_denoiser`], the denoiser methods
/// and every Plug-and-Play/RED method (`denoiser=NAME`) find it. Crates that cannot be
/// dependencies of this one (the learned denoisers of `posterior-nn`) register this way.
/// Registering a name again replaces the earlier entry; built-in names cannot be replaced.
pub fn register_denoiser(entry: DenoiserEntry) {
    if builtin().iter().any(|e| e.name == entry.name) {
        return;
    }
    let mut reg = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    reg.retain(|e| e.name != entry.name);
    reg.push(entry);
}

fn builtin() -> Vec<DenoiserEntry> {
    vec![
        bm3d::entry(),
        classic::tv_entry(),
        classic::wavelet_entry(),
        nlm::entry(),
        wnnm::entry(),
    ]
}

/// All denoiser families: the built-in ones, then those added by [`register_denoiser`].
pub fn denoisers() -> Vec<DenoiserEntry> {
    let mut all = builtin();
    all.extend(
        REGISTERED
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied(),
    );
    all
}

/// Build a denoiser from a spec such as `bm3d` or `nlm:patch=5,window=13`.
pub fn build_denoiser(spec: &Spec) -> Result<Box<dyn Denoiser>> {
    let all = denoisers();
    match all.iter().find(|e| e.name == spec.name) {
        Some(e) => (e.build)(spec),
        None => Err(Error::Spec(format!(
            "unknown denoiser `{}`; valid denoisers: {}",
            spec.name,
            all.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Check a denoiser's input: a gray `[H, W]` or colour `[C, H, W]` image, finite, with
/// `sigma` finite and positive; returns `(c, h, w)`.
pub fn check_input(
    y: &ArrayViewD<f32>,
    sigma: f32,
    min_side: usize,
) -> Result<(usize, usize, usize)> {
    let (c, h, w) = crate::ops::planes(y.shape())?;
    if h < min_side || w < min_side {
        return Err(Error::param(
            "image",
            format!(
                "the image is {h}x{w}; this denoiser needs at least {min_side}x{min_side} pixels"
            ),
        ));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::param(
            "sigma",
            format!("the noise standard deviation must be finite and > 0, got {sigma}"),
        ));
    }
    crate::io::check_finite("denoiser input", y.view())?;
    Ok((c, h, w))
}
