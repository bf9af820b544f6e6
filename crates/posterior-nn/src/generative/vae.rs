//! A variational autoencoder with a fully connected encoder and decoder (Kingma & Welling,
//! "Auto-encoding variational Bayes", ICLR 2014), the architecture Bora et al. (2017) use as
//! the MNIST prior of compressed sensing with generative models: `784-500-500-2k` encoder,
//! `k-500-500-784` decoder, softplus hidden units, latent dimension `k = 20`.
//!
//! Likelihood: Bernoulli on each pixel (`p(x | z) = Π σ(ℓ)^x (1 − σ(ℓ))^(1−x)` with the
//! decoder's logits `ℓ`, applied to gray levels in `[0, 1]` as is common for MNIST); prior
//! `p(z) = N(0, I)`; posterior approximation `q(z | x) = N(μ(x), diag exp(log v(x)))`.
//! The decoder's mean image `σ(ℓ(z))` is the generator `G(z)` of latent MAP.

use burn_tensor::activation::{sigmoid, softplus};
use burn_tensor::module::linear;
use burn_tensor::{Device, Tensor, TensorData};
use posterior::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::params::ParamSet;

/// Architecture of the VAE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Units of each of the two hidden layers (encoder and decoder).
    pub hidden: usize,
    /// Latent dimension `k`.
    pub latent: usize,
}

impl Default for VaeConfig {
    /// The CSGM MNIST model: 28x28, 500 hidden units, 20 latents.
    fn default() -> Self {
        Self {
            height: 28,
            width: 28,
            hidden: 500,
            latent: 20,
        }
    }
}

/// Index of the first decoder tensor in the parameter list.
pub const DECODER_START: usize = 8;

impl VaeConfig {
    /// Architecture name recorded in weight files.
    pub const KIND: &'static str = "vae-mlp";

    /// Check the configuration.
    pub fn validate(&self) -> Result<()> {
        if self.height == 0 || self.width == 0 || self.hidden == 0 || self.latent == 0 {
            return Err(Error::param(
                "vae",
                format!("every size must be >= 1, got {self:?}"),
            ));
        }
        Ok(())
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// Fresh parameters: Glorot-normal weights (`std = √(2 / (fan_in + fan_out))`, Glorot &
    /// Bengio 2010), zero biases; the log-variance head starts 10x smaller so that early
    /// posteriors are close to unit variance. Order: encoder (8 tensors), then decoder (6).
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ParamSet> {
        self.validate()?;
        let (p, h, k) = (self.pixels(), self.hidden, self.latent);
        let mut s = ParamSet::new();
        let mut dense = |s: &mut ParamSet, name: &str, i: usize, o: usize, gain: f32| {
            let std = gain * (2.0 / (i + o) as f32).sqrt();
            s.push_normal(&format!("{name}.weight"), &[i, o], std, rng);
            s.push_const(&format!("{name}.bias"), &[o], 0.0);
        };
        dense(&mut s, "enc.fc1", p, h, 1.0);
        dense(&mut s, "enc.fc2", h, h, 1.0);
        dense(&mut s, "enc.mu", h, k, 1.0);
        dense(&mut s, "enc.logvar", h, k, 0.1);
        dense(&mut s, "dec.fc1", k, h, 1.0);
        dense(&mut s, "dec.fc2", h, h, 1.0);
        dense(&mut s, "dec.out", h, p, 1.0);
        Ok(s)
    }

    /// Encoder: `(μ, log v)` (`[B, k]` each) of images `x` (`[B, pixels]`).
    pub fn encode(&self, t: &[Tensor<1>], x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let (p, h, k) = (self.pixels(), self.hidden, self.latent);
        let w = |i: usize, a: usize, b: usize| t[i].clone().reshape([a, b]);
        let h1 = softplus(linear(x, w(0, p, h), Some(t[1].clone())), 1.0);
        let h2 = softplus(linear(h1, w(2, h, h), Some(t[3].clone())), 1.0);
        let mu = linear(h2.clone(), w(4, h, k), Some(t[5].clone()));
        let logvar = linear(h2, w(6, h, k), Some(t[7].clone()));
        (mu, logvar)
    }

    /// Decoder logits `ℓ(z)` (`[B, pixels]`) from the decoder's tensors `d` (the parameter
    /// list from [`DECODER_START`] on).
    pub fn decode_logits(&self, d: &[Tensor<1>], z: Tensor<2>) -> Tensor<2> {
        let (p, h, k) = (self.pixels(), self.hidden, self.latent);
        let w = |i: usize, a: usize, b: usize| d[i].clone().reshape([a, b]);
        let g1 = softplus(linear(z, w(0, k, h), Some(d[1].clone())), 1.0);
        let g2 = softplus(linear(g1, w(2, h, h), Some(d[3].clone())), 1.0);
        linear(g2, w(4, h, p), Some(d[5].clone()))
    }

    /// The mean image `G(z) = σ(ℓ(z))`.
    pub fn decode(&self, d: &[Tensor<1>], z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode_logits(d, z))
    }

    /// Per-image negative ELBO terms of a batch: `(reconstruction, KL)`, each `[B]`, in nats.
    /// `eps` (`[B, k]`, standard normal) draws `z = μ + exp(log v / 2) ε`.
    ///
    /// Reconstruction: `Σ_pixels softplus(ℓ) − x ℓ` (the Bernoulli negative log-likelihood,
    /// written stably); KL: `½ Σ (μ² + v − log v − 1)`.
    pub fn neg_elbo(
        &self,
        t: &[Tensor<1>],
        x: Tensor<2>,
        eps: Tensor<2>,
    ) -> (Tensor<1>, Tensor<1>) {
        let (mu, logvar) = self.encode(t, x.clone());
        let z = mu.clone() + (logvar.clone() * 0.5).exp() * eps;
        let logits = self.decode_logits(&t[DECODER_START..], z);
        let rec = (softplus(logits.clone(), 1.0) - x * logits)
            .sum_dim(1)
            .squeeze_dim(1);
        let kl = ((mu.square() + logvar.clone().exp() - logvar - 1.0) * 0.5)
            .sum_dim(1)
            .squeeze_dim(1);
        (rec, kl)
    }
}

/// A `[rows, cols]` tensor from host values.
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(values, [rows, cols]), device)
}
