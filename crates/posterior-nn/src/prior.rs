//! The traits learned priors implement, so solvers use networks without knowing them.
//!
//! - [`GenerativePrior`]: a decoder `x = G(z)` from a latent vector, with its vector-Jacobian
//!   product, for latent-space MAP (`argmin_z ‖y − A G(z)‖² / (2σ²) + λ‖z‖²/2`): the solver
//!   forms the image-space residual gradient `r = Aᴴ(A G(z) − y)/σ²` with the core's
//!   operators and asks the prior for `J_G(z)ᵀ r`, so the physics never enters the network
//!   graph.
//! - [`NoiseConditionedDenoiser`]: a denoiser `D(y, σ)` on batches with its vector-Jacobian
//!   product with respect to the input, as diffusion posterior sampling and RED-type
//!   gradients need.

use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD};
use posterior::Result;

/// A generative model's decoder `G: R^k → images`.
pub trait GenerativePrior: Send + Sync {
    /// A short description for reports.
    fn describe(&self) -> String;

    /// Latent dimension `k`.
    fn latent_dim(&self) -> usize;

    /// Shape of one decoded image (`[H, W]` or `[C, H, W]`).
    fn image_shape(&self) -> Vec<usize>;

    /// Decode a batch of latents `z` (`[B, k]`) to images (`[B, ...image_shape]`).
    fn decode(&self, z: ArrayView2<f32>) -> Result<ArrayD<f32>>;

    /// Decode `z` and return `(G(z), J_G(z)ᵀ r)` for a batch of image-space cotangents `r`
    /// (`[B, ...image_shape]`); the second output is `[B, k]`.
    fn vjp(&self, z: ArrayView2<f32>, r: ArrayViewD<f32>) -> Result<(ArrayD<f32>, Array2<f32>)>;

    /// The encoder's mean latent `E[q(z | x)]` for a batch of images `x`
    /// (`[B, ...image_shape]`) → `[B, k]`, for models that have an encoder (a VAE);
    /// `Ok(None)` for those that do not (a GAN). Latent MAP uses it as a starting point.
    fn encode_mean(&self, x: ArrayViewD<f32>) -> Result<Option<Array2<f32>>> {
        let _ = x;
        Ok(None)
    }
}

/// A denoiser conditioned on the noise level, on batches `[N, C, H, W]`.
pub trait NoiseConditionedDenoiser: Send + Sync {
    /// Image channels the network takes.
    fn channels(&self) -> usize;

    /// `D(y_i, σ_i)` for each image of the batch `y` (`[N, C, H, W]`), `sigma` of length `N`.
    fn denoise_batch(&self, y: ArrayViewD<f32>, sigma: &[f32]) -> Result<ArrayD<f32>>;

    /// `(D(y, σ), J_D(y)ᵀ r)`: the denoised batch and the vector-Jacobian product of the
    /// denoiser with respect to its input, for a cotangent `r` of the batch's shape.
    fn vjp(
        &self,
        y: ArrayViewD<f32>,
        sigma: &[f32],
        r: ArrayViewD<f32>,
    ) -> Result<(ArrayD<f32>, ArrayD<f32>)>;
}
