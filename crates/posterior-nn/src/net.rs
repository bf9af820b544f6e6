//! The noise-level-conditioned denoising network.
//!
//! An FFDNet-style network (Zhang, Zuo & Zhang, "FFDNet: toward a fast and flexible solution
//! for CNN-based image denoising", IEEE TIP 27(9), 2018): the noisy image is split into its
//! four 2x2 polyphase components (pixel unshuffle), a constant map of the noise level σ is
//! appended as one more channel, and a plain stack of 3x3 convolutions with ReLU works at
//! half resolution, which makes it four times cheaper than a full-resolution DnCNN of the
//! same depth and doubles its receptive field. One set of weights serves every σ in the
//! training range, as Plug-and-Play and DPIR need. Unlike FFDNet the last layer predicts
//! the noise (residual learning, as DnCNN), and there is no batch normalisation, so the
//! network is the same function in training and inference.
//!
//! `x̂ = y − S(f_θ([U(y), σ 1]))` with `U` the unshuffle, `S` its inverse, `f_θ` the stack.

use burn_tensor::Tensor;
use burn_tensor::activation::relu;
use burn_tensor::module::conv2d;
use burn_tensor::ops::ConvOptions;
use posterior::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::params::ParamSet;

/// Architecture of the denoising network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenoiserConfig {
    /// Image channels (1 gray, 3 colour).
    pub channels: usize,
    /// Feature maps of the hidden layers.
    pub features: usize,
    /// Number of 3x3 convolution layers (at least 2).
    pub depth: usize,
}

impl Default for DenoiserConfig {
    /// The shipped gray network: 12 layers of 48 features (211 780 parameters). Earlier
    /// weights had 32 (95 108 parameters); 48 learn faster per step and per minute of two
    /// CPU cores (BENCHMARKS.md, the width probe).
    fn default() -> Self {
        Self {
            channels: 1,
            features: 48,
            depth: 12,
        }
    }
}

impl DenoiserConfig {
    /// Architecture name recorded in weight files.
    pub const KIND: &'static str = "ffdnet-residual";

    /// The largest network [`validate`](Self::validate) accepts, in parameters (400 MB of
    /// `f32`): a bound that keeps a corrupted or hostile weight file's claimed shape from
    /// exhausting memory before its arrays are checked.
    pub const MAX_PARAMETERS: u64 = 100_000_000;

    /// Check the configuration.
    pub fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.features == 0 || self.depth < 2 {
            return Err(Error::param(
                "network",
                format!(
                    "need channels >= 1, features >= 1 and depth >= 2, got {:?}",
                    self
                ),
            ));
        }
        // (the fields may come from an untrusted file: bound them before any arithmetic)
        let huge = self.channels > 64 || self.features > 1 << 20 || self.depth > 1 << 20;
        let count = || -> u128 {
            (0..self.depth)
                .map(|i| {
                    let (cin, cout) = self.layer_channels(i);
                    cin as u128 * cout as u128 * 9 + cout as u128
                })
                .sum()
        };
        if huge || count() > Self::MAX_PARAMETERS as u128 {
            return Err(Error::param(
                "network",
                format!(
                    "{} layers of {} features is beyond the supported size ({} parameters at most)",
                    self.depth,
                    self.features,
                    Self::MAX_PARAMETERS
                ),
            ));
        }
        Ok(())
    }

    /// Channel counts `(in, out)` of layer `i`.
    fn layer_channels(&self, i: usize) -> (usize, usize) {
        let io = 4 * self.channels;
        let cin = if i == 0 { io + 1 } else { self.features };
        let cout = if i + 1 == self.depth {
            io
        } else {
            self.features
        };
        (cin, cout)
    }

    /// Freshly initialised parameters: He-normal kernels (`std = √(2 / fan_in)`, He et al.
    /// 2015) for the ReLU layers, a 10x smaller last layer so the untrained network starts
    /// near the identity map, zero biases.
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ParamSet> {
        self.validate()?;
        let mut p = ParamSet::new();
        for i in 0..self.depth {
            let (cin, cout) = self.layer_channels(i);
            let mut std = (2.0 / (cin * 9) as f32).sqrt();
            if i + 1 == self.depth {
                std *= 0.1;
            }
            p.push_normal(&format!("conv{i}.weight"), &[cout, cin, 3, 3], std, rng);
            p.push_const(&format!("conv{i}.bias"), &[cout], 0.0);
        }
        Ok(p)
    }

    /// The denoised batch `x̂` for a noisy batch `y` (`[N, C, H, W]`, `H` and `W` even)
    /// with per-image noise levels `sigma` (`[N]`); `params` as made by
    /// [`ParamSet::tensors`] from this configuration's layout.
    pub fn forward(&self, params: &[Tensor<1>], y: Tensor<4>, sigma: Tensor<1>) -> Tensor<4> {
        let [n, c, h, w] = y.dims();
        debug_assert!(h % 2 == 0 && w % 2 == 0 && c == self.channels);
        let (h2, w2) = (h / 2, w / 2);
        let u = unshuffle(y.clone());
        let s = sigma.reshape([n, 1, 1, 1]).expand([n, 1, h2, w2]);
        let mut t = Tensor::cat(vec![u, s], 1);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for i in 0..self.depth {
            let (cin, cout) = self.layer_channels(i);
            let k = params[2 * i].clone().reshape([cout, cin, 3, 3]);
            let b = params[2 * i + 1].clone();
            t = conv2d(t, k, Some(b), opts.clone());
            if i + 1 < self.depth {
                t = relu(t);
            }
        }
        y - shuffle(t, c)
    }
}

/// 2x2 pixel unshuffle: `[N, C, H, W]` → `[N, 4C, H/2, W/2]`, channel `4c + 2a + b` holding
/// the pixels `(2i + a, 2j + b)` of channel `c`.
pub fn unshuffle(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h / 2, 2, w / 2, 2])
        .permute([0, 1, 3, 5, 2, 4])
        .reshape([n, 4 * c, h / 2, w / 2])
}

/// Inverse of [`unshuffle`]: `[N, 4C, H, W]` → `[N, C, 2H, 2W]`.
pub fn shuffle(x: Tensor<4>, c: usize) -> Tensor<4> {
    let [n, _, h, w] = x.dims();
    x.reshape([n, c, 2, 2, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([n, c, 2 * h, 2 * w])
}
