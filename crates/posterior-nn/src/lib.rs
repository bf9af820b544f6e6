//! Learned and generative priors for `posterior`, on the [burn](https://burn.dev) deep-learning
//! framework.
//!
//! The core crate stays free of burn; this crate plugs networks into its traits:
//! - [`LearnedDenoiser`] implements [`posterior::denoise::Denoiser`], so Plug-and-Play, DPIR
//!   and RED use a trained network unchanged (`denoiser=learned`);
//! - [`prior::GenerativePrior`] (decode + vector-Jacobian product) and
//!   [`prior::NoiseConditionedDenoiser`] are the traits the generative priors implement;
//! - [`params::ParamSet`] holds a network's weights as named `f32` arrays, saved and loaded
//!   as safetensors ([`weights`]) with the architecture and a SHA-256 check;
//! - [`train`] trains the denoiser from images on disk: seeded patch sampling with the eight
//!   flips/rotations, Adam with a cosine learning-rate schedule, validation PSNR, atomic
//!   checkpoints and an exact `--resume`.
//!
//! Parameters live in plain Rust vectors; each forward pass lifts them into burn tensors on
//! the chosen [`Device`]. This keeps the optimizer state, the checkpoints and the random
//! streams entirely in the project's hands (burn's own parameter ids are random per run,
//! which would break an exact resume), at the cost of one host copy of the weights per
//! batch, negligible next to the convolutions.
//!
//! Conversions between the core's `ndarray` images and burn tensors live in [`convert`].
#![warn(missing_docs)]

pub mod convert;
pub mod csgm;
pub mod generative;
pub mod learned;
pub mod net;
pub mod params;
pub mod prior;
pub mod train;
pub mod weights;

pub use burn_tensor::Device;
pub use learned::LearnedDenoiser;

/// The CPU device (burn's `flex` backend, multithreaded with rayon).
pub fn cpu() -> Device {
    Device::flex()
}

/// A device by name: `cpu`, or `vulkan` when built with the `gpu-vulkan` feature.
pub fn device_by_name(name: &str) -> posterior::Result<Device> {
    match name {
        "cpu" => Ok(cpu()),
        #[cfg(feature = "gpu-vulkan")]
        "vulkan" => Ok(Device::vulkan(burn_tensor::DeviceKind::DiscreteGpu(0))),
        other => Err(posterior::Error::param(
            "device",
            format!(
                "unknown device `{other}`; valid: cpu{}",
                if cfg!(feature = "gpu-vulkan") {
                    ", vulkan"
                } else {
                    " (build with --features gpu-vulkan for vulkan)"
                }
            ),
        )),
    }
}

/// Register the learned denoisers with the core's denoiser registry, so that specs such as
/// `learned` and `pnp-admm:denoiser=learned` resolve. Idempotent.
pub fn register() {
    posterior::denoise::register_denoiser(learned::entry());
    generative::method::register();
}
