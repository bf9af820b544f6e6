//! A DCGAN (Radford, Metz & Chintala, "Unsupervised representation learning with deep
//! convolutional generative adversarial networks", ICLR 2016), sized for 28x28 digits and
//! CPU training, with spectral normalisation in the discriminator (Miyato et al., "Spectral
//! normalization for generative adversarial networks", ICLR 2018) for stable training without
//! batch normalisation.
//!
//! Generator `G(z)`: `z ∈ R^k → linear → 2f x H/4 x W/4 → ReLU, pixel norm → 4x4 transposed
//! conv, stride 2 → f x H/2 x W/2 → ReLU, pixel norm → 4x4 transposed conv, stride 2 →
//! 1 x H x W`, a linear output (the data lie in `[0, 1]`; samples may overshoot slightly).
//! Pixel normalisation stands in for DCGAN's batch normalisation, and the output is not
//! squashed: with batch-free normalisation and a sigmoid output, our generator drove the
//! sigmoid into saturation within 150 steps (all-black samples, vanishing gradients).
//! Discriminator: two 4x4 stride-2 convolutions (`f`, `2f` maps, LeakyReLU 0.2) and a linear
//! layer to one logit; every weight is divided by its spectral norm, estimated by one power
//! iteration per training step with persistent vectors (the gradient flows through the norm,
//! as in Miyato et al.). Loss: the non-saturating GAN loss of Goodfellow et al. (2014).

use burn_tensor::activation::{leaky_relu, relu};
use burn_tensor::module::{conv_transpose2d, conv2d, linear};
use burn_tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn_tensor::{Device, Tensor, TensorData};
use posterior::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::params::ParamSet;

/// Architecture of the DCGAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GanConfig {
    /// Image height (a multiple of 4).
    pub height: usize,
    /// Image width (a multiple of 4).
    pub width: usize,
    /// Latent dimension `k`.
    pub latent: usize,
    /// Base feature maps `f` (the generator's first map and the discriminator's second have `2f`).
    pub features: usize,
}

impl Default for GanConfig {
    /// The shipped MNIST generator: 28x28, 20 latents (as the VAE), f = 32.
    fn default() -> Self {
        Self {
            height: 28,
            width: 28,
            latent: 20,
            features: 32,
        }
    }
}

/// Names of the discriminator weights that are spectrally normalised, with their matrix
/// shapes `(rows, cols)` as the power iteration sees them.
const SN_LAYERS: [&str; 3] = ["d.c1", "d.c2", "d.fc"];

impl GanConfig {
    /// Architecture name recorded in weight files.
    pub const KIND: &'static str = "dcgan";

    /// Check the configuration.
    pub fn validate(&self) -> Result<()> {
        if self.height < 4
            || self.width < 4
            || self.height % 4 != 0
            || self.width % 4 != 0
            || self.latent == 0
            || self.features == 0
        {
            return Err(Error::param(
                "gan",
                format!("need height and width multiples of 4 and sizes >= 1, got {self:?}"),
            ));
        }
        Ok(())
    }

    fn quarter(&self) -> (usize, usize) {
        (self.height / 4, self.width / 4)
    }

    /// Fresh generator parameters: He-normal weights (fan-in of a stride-2 4x4 transposed
    /// convolution is `4 c_in` taps per output), zero biases.
    pub fn init_generator<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ParamSet> {
        self.validate()?;
        let (h4, w4) = self.quarter();
        let (k, f) = (self.latent, self.features);
        let mut s = ParamSet::new();
        s.push_normal(
            "g.fc.weight",
            &[k, 2 * f * h4 * w4],
            (2.0 / k as f32).sqrt(),
            rng,
        );
        s.push_const("g.fc.bias", &[2 * f * h4 * w4], 0.0);
        s.push_normal(
            "g.ct1.weight",
            &[2 * f, f, 4, 4],
            (2.0 / (8 * f) as f32).sqrt(),
            rng,
        );
        s.push_const("g.ct1.bias", &[f], 0.0);
        s.push_normal(
            "g.ct2.weight",
            &[f, 1, 4, 4],
            (1.0 / (4 * f) as f32).sqrt(),
            rng,
        );
        s.push_const("g.ct2.bias", &[1], 0.0);
        Ok(s)
    }

    /// Fresh discriminator parameters: N(0, 0.02²) weights (the DCGAN initialisation; the
    /// spectral normalisation rescales them anyway), zero biases.
    pub fn init_discriminator<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ParamSet> {
        self.validate()?;
        let (h4, w4) = self.quarter();
        let f = self.features;
        let mut s = ParamSet::new();
        s.push_normal("d.c1.weight", &[f, 1, 4, 4], 0.02, rng);
        s.push_const("d.c1.bias", &[f], 0.0);
        s.push_normal("d.c2.weight", &[2 * f, f, 4, 4], 0.02, rng);
        s.push_const("d.c2.bias", &[2 * f], 0.0);
        s.push_normal("d.fc.weight", &[2 * f * h4 * w4, 1], 0.02, rng);
        s.push_const("d.fc.bias", &[1], 0.0);
        Ok(s)
    }

    /// Initial power-iteration vectors of the spectral norms (unit norm, random).
    pub fn init_sn_state<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ParamSet> {
        self.validate()?;
        let mut s = ParamSet::new();
        for (name, (rows, _)) in SN_LAYERS.iter().zip(self.sn_shapes()) {
            s.push_normal(&format!("{name}.u"), &[rows], 1.0, rng);
        }
        for p in &mut s.params {
            normalize(&mut p.data);
        }
        Ok(s)
    }

    /// `(rows, cols)` of each normalised weight viewed as a matrix: a convolution kernel
    /// `[out, in, 4, 4]` as `out x 16 in`, the linear layer `[in, 1]` as `1 x in`.
    fn sn_shapes(&self) -> [(usize, usize); 3] {
        let (h4, w4) = self.quarter();
        let f = self.features;
        [(f, 16), (2 * f, 16 * f), (1, 2 * f * h4 * w4)]
    }

    /// The generated images `G(z)` (`[B, 1, H, W]`) from the generator's tensors.
    pub fn generate(&self, g: &[Tensor<1>], z: Tensor<2>) -> Tensor<4> {
        let [b, _] = z.dims();
        let (h4, w4) = self.quarter();
        let (k, f) = (self.latent, self.features);
        let t = linear(
            z,
            g[0].clone().reshape([k, 2 * f * h4 * w4]),
            Some(g[1].clone()),
        );
        let t = pixel_norm(relu(t.reshape([b, 2 * f, h4, w4])));
        let opts = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let t = conv_transpose2d(
            t,
            g[2].clone().reshape([2 * f, f, 4, 4]),
            Some(g[3].clone()),
            opts.clone(),
        );
        let t = pixel_norm(relu(t));
        conv_transpose2d(
            t,
            g[4].clone().reshape([f, 1, 4, 4]),
            Some(g[5].clone()),
            opts,
        )
    }

    /// One power iteration per normalised weight on the host (updating `sn`), returning the
    /// right singular vector estimates `v` for [`Self::discriminate`].
    pub fn power_iteration(&self, d: &ParamSet, sn: &mut ParamSet) -> Vec<Vec<f32>> {
        let mut vs = Vec::new();
        for (i, (rows, cols)) in self.sn_shapes().into_iter().enumerate() {
            let w = &d.params[2 * i].data; // row-major `rows x cols` (see sn_shapes)
            let u = &mut sn.params[i].data;
            let mut v = vec![0.0f32; cols];
            for r in 0..rows {
                let ur = u[r];
                for (vc, &wv) in v.iter_mut().zip(&w[r * cols..(r + 1) * cols]) {
                    *vc += ur * wv;
                }
            }
            normalize(&mut v);
            for (r, ur) in u.iter_mut().enumerate() {
                *ur = w[r * cols..(r + 1) * cols]
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| a * b)
                    .sum();
            }
            normalize(u);
            vs.push(v);
        }
        vs
    }

    /// Discriminator logits (`[B]`) of images `x` (`[B, 1, H, W]`), with each weight divided by
    /// `σ = uᵀ W v` (`u` from `sn`, `v` from [`Self::power_iteration`], both held constant).
    pub fn discriminate(
        &self,
        d: &[Tensor<1>],
        sn: &ParamSet,
        vs: &[Vec<f32>],
        x: Tensor<4>,
        device: &Device,
    ) -> Tensor<1> {
        let [b, _, _, _] = x.dims();
        let (h4, w4) = self.quarter();
        let f = self.features;
        let shapes = self.sn_shapes();
        let normed = |i: usize| -> Tensor<1> {
            let (rows, cols) = shapes[i];
            let w = d[2 * i].clone();
            let u = Tensor::<2>::from_data(
                TensorData::new(sn.params[i].data.clone(), [1, rows]),
                device,
            );
            let v = Tensor::<2>::from_data(TensorData::new(vs[i].clone(), [cols, 1]), device);
            let sigma = u
                .matmul(w.clone().reshape([rows, cols]).matmul(v))
                .reshape([1]);
            w / sigma.clamp_min(1e-12).expand([rows * cols])
        };
        let opts = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let t = conv2d(
            x,
            normed(0).reshape([f, 1, 4, 4]),
            Some(d[1].clone()),
            opts.clone(),
        );
        let t = leaky_relu(t, 0.2);
        let t = conv2d(
            t,
            normed(1).reshape([2 * f, f, 4, 4]),
            Some(d[3].clone()),
            opts,
        );
        let t = leaky_relu(t, 0.2).reshape([b, 2 * f * h4 * w4]);
        linear(
            t,
            normed(2).reshape([2 * f * h4 * w4, 1]),
            Some(d[5].clone()),
        )
        .reshape([b])
    }
}

/// Pixelwise feature normalisation (Karras et al., "Progressive growing of GANs", ICLR 2018):
/// each pixel's feature vector divided by its root mean square. It keeps the generator's
/// activations at a fixed scale without batch statistics, so `G(z)` of one latent never
/// depends on the others in the batch (batch normalisation would), as latent MAP needs.
fn pixel_norm(t: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = t.dims();
    let rms = (t.clone().square().mean_dim(1) + 1e-8).sqrt();
    t / rms.expand([b, c, h, w])
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}
