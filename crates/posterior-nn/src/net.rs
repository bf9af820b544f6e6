//! The noise-level-conditioned denoising network.
//!
//! Two architectures share one configuration ([`DenoiserConfig`]), one input stage and one
//! output stage. The noisy image is split into its four 2x2 polyphase components (pixel
//! unshuffle), a constant map of the noise level σ is appended as one more channel, the body
//! works at half resolution, and its output, shuffled back to full resolution, is the
//! predicted noise (residual learning, as DnCNN): `x̂ = y − S(f_θ([U(y), σ 1]))`, with `U`
//! the unshuffle and `S` its inverse; with an [`OutputScale`] other than 1, the predicted
//! noise is `c(σ) S(f_θ(...))` (for `c(σ) = σ` the body predicts noise / σ). One set of
//! weights serves every σ in the training range, as Plug-and-Play and DPIR need. There is
//! no batch normalisation, so the network is the same function in training and inference.
//!
//! - `levels = 1`: FFDNet (Zhang, Zuo & Zhang, "FFDNet: toward a fast and flexible
//!   solution for CNN-based image denoising", IEEE TIP 27(9), 2018): `f_θ` is a plain stack
//!   of `depth` 3x3 convolutions with ReLU. Working at half resolution makes it four times
//!   cheaper than a full-resolution DnCNN of the same depth and doubles its receptive field.
//! - `levels = L ≥ 2`: a small UNet in the manner of DRUNet (Zhang, Li, Zuo, Zhang, Van Gool
//!   & Timofte, "Plug-and-Play image restoration with deep denoiser prior", IEEE TPAMI
//!   44(10), 2022): a 3x3 head convolution, then at each of `L` resolutions `depth`
//!   residual blocks (`t + conv(relu(conv(t)))`), with the features doubling at every
//!   halving of the resolution; downsampling is a 2x2 stride-2 convolution and upsampling
//!   its transpose, both written as a pixel (un)shuffle with a 1x1 convolution; the decoder
//!   adds the encoder's features at the same resolution (additive skip connections) and a
//!   3x3 tail convolution predicts the noise. Each halving doubles the receptive field of
//!   the convolutions below it at the same cost per level (four times fewer pixels, four
//!   times more weights), which is what lets a UNet average over wide flat regions.

use burn_tensor::Tensor;
use burn_tensor::activation::relu;
use burn_tensor::module::conv2d;
use burn_tensor::ops::ConvOptions;
use posterior::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::params::ParamSet;
use crate::weights::WeightFile;

/// Architecture of the denoising network.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiserConfig {
    /// Image channels (1 gray, 3 colour).
    pub channels: usize,
    /// Feature maps of the hidden layers (of the first level of a UNet; each further level
    /// doubles them).
    pub features: usize,
    /// `levels = 1`: the number of 3x3 convolution layers (at least 2). `levels ≥ 2`: the
    /// residual blocks at each level of the encoder, at the bottom and at each level of the
    /// decoder (at least 1).
    pub depth: usize,
    /// Resolutions the network works at: 1 for the plain FFDNet stack, 2 to
    /// [`MAX_LEVELS`](Self::MAX_LEVELS) for a UNet. Files written before UNets existed
    /// have none recorded and read as 1, and a 1 is not written, so those files' recorded
    /// configuration is unchanged.
    #[serde(default = "one_level", skip_serializing_if = "is_one_level")]
    pub levels: usize,
    /// How the body's output becomes the predicted noise ([`OutputScale`]). Files written
    /// before this existed read as [`OutputScale::One`], which is not written.
    #[serde(default, skip_serializing_if = "OutputScale::is_one")]
    pub output_scale: OutputScale,
}

fn one_level() -> usize {
    1
}

fn is_one_level(levels: &usize) -> bool {
    *levels == 1
}

/// The factor between the body's output and the predicted noise (the residual `y − x̂`), a
/// function of the noise level σ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputScale {
    /// 1: the body predicts the noise itself (DnCNN, FFDNet, DRUNet).
    #[default]
    One,
    /// σ: the body predicts the noise divided by σ, of unit variance at every level (the
    /// ε-prediction of diffusion models), so the correction vanishes with σ and an error
    /// of the body costs in proportion to the noise level. The body must then amplify the
    /// noise by 1/σ, which is large at low noise.
    Sigma,
    /// `σ / √(σ² + k²)`, with the knee `k` on the [0, 1] scale: about `σ / k` below the
    /// knee, so the correction still vanishes with σ, and about 1 well above it; the body's
    /// gain at low noise is bounded by about `k / σ` instead of `1 / σ`.
    Knee(f32),
}

impl OutputScale {
    fn is_one(&self) -> bool {
        *self == Self::One
    }

    /// The factor at noise level `sigma`.
    pub fn factor(&self, sigma: f32) -> f32 {
        match *self {
            Self::One => 1.0,
            Self::Sigma => sigma,
            Self::Knee(k) => sigma / (sigma * sigma + k * k).sqrt(),
        }
    }

    /// Parse `one`, `sigma` or `knee:K` (K on the 0-255 scale, > 0).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::param(
                "output-scale",
                format!(
                    "unknown output scale `{text}`; valid: one, sigma, knee:K (K > 0, 0-255 scale)"
                ),
            )
        };
        match text {
            "one" => Ok(Self::One),
            "sigma" => Ok(Self::Sigma),
            _ => {
                let k: f32 = text
                    .strip_prefix("knee:")
                    .and_then(|k| k.parse().ok())
                    .ok_or_else(bad)?;
                let s = Self::Knee(k / 255.0);
                s.validate().map_err(|_| bad())?;
                Ok(s)
            }
        }
    }

    /// The option's text, as [`parse`](Self::parse) reads it.
    pub fn name(&self) -> String {
        match *self {
            Self::One => "one".into(),
            Self::Sigma => "sigma".into(),
            Self::Knee(k) => format!("knee:{}", Self::on_255(k)),
        }
    }

    /// A knee on the 0-255 scale, to three decimals (10/255 prints as 10).
    pub fn on_255(k: f32) -> f32 {
        (k * 255.0 * 1e3).round() / 1e3
    }

    /// Check the knee.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Self::Knee(k) if !(k.is_finite() && k > 0.0) => Err(Error::param(
                "output_scale",
                format!("the knee must be finite and > 0, got {k}"),
            )),
            _ => Ok(()),
        }
    }
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
            levels: 1,
            output_scale: OutputScale::One,
        }
    }
}

/// One convolution of the network: name, output and input channels, kernel side.
#[derive(Clone, Debug, PartialEq)]
struct Layer {
    name: String,
    cout: usize,
    cin: usize,
    k: usize,
    /// Standard deviation of the initial kernel, as a multiple of `√(1 / fan_in)`.
    gain: f32,
}

impl DenoiserConfig {
    /// Architecture name recorded in weight files of the plain stack (`levels = 1`).
    pub const KIND: &'static str = "ffdnet-residual";
    /// Architecture name recorded in weight files of a UNet (`levels ≥ 2`).
    pub const UNET_KIND: &'static str = "unet-residual";

    /// The largest network [`validate`](Self::validate) accepts, in parameters (400 MB of
    /// `f32`): a bound that keeps a corrupted or hostile weight file's claimed shape from
    /// exhausting memory before its arrays are checked.
    pub const MAX_PARAMETERS: u64 = 100_000_000;

    /// The most resolutions of a UNet.
    pub const MAX_LEVELS: usize = 6;

    /// The architecture name of this configuration ([`KIND`](Self::KIND) or
    /// [`UNET_KIND`](Self::UNET_KIND)).
    pub fn kind(&self) -> &'static str {
        if self.levels <= 1 {
            Self::KIND
        } else {
            Self::UNET_KIND
        }
    }

    /// The configuration stored in a weight file of either architecture; the recorded
    /// architecture name must match the configuration.
    pub fn from_file(file: &WeightFile) -> Result<Self> {
        let kind = if file.meta("posterior.kind")? == Self::UNET_KIND {
            Self::UNET_KIND
        } else {
            // (any other name gets the file's standard wrong-architecture error here)
            Self::KIND
        };
        let config: Self = file.config(kind)?;
        if config.kind() != kind {
            return Err(Error::param(
                "weights",
                format!(
                    "{}: a `{kind}` network with the configuration {config:?}, which is a `{}`",
                    file.origin,
                    config.kind()
                ),
            ));
        }
        Ok(config)
    }

    /// The network in words: `12 layers of 48 features`, or for a UNet `3 levels of 2
    /// residual blocks, 32-64-128 features`, followed by the output scale unless it is 1
    /// (`, predicting noise / σ`).
    pub fn summary(&self) -> String {
        let shape = self.shape_summary();
        match self.output_scale {
            OutputScale::One => shape,
            OutputScale::Sigma => format!("{shape}, predicting noise / σ"),
            OutputScale::Knee(k) => format!(
                "{shape}, noise scaled by σ/√(σ² + k²), k = {}/255",
                OutputScale::on_255(k)
            ),
        }
    }

    /// The shape part of [`summary`](Self::summary).
    fn shape_summary(&self) -> String {
        if self.levels <= 1 {
            format!("{} layers of {} features", self.depth, self.features)
        } else {
            let f: Vec<String> = (0..self.levels)
                .map(|l| (self.features << l).to_string())
                .collect();
            format!(
                "{} levels of {} residual block{}, {} features",
                self.levels,
                self.depth,
                if self.depth == 1 { "" } else { "s" },
                f.join("-")
            )
        }
    }

    /// The shape in short: `DxF` for the plain stack (layers x features), `LxDxF` for a
    /// UNet (levels x blocks per level x first-level features).
    pub fn shape_label(&self) -> String {
        if self.levels <= 1 {
            format!("{}x{}", self.depth, self.features)
        } else {
            format!("{}x{}x{}", self.levels, self.depth, self.features)
        }
    }

    /// Image sides the network takes must be multiples of this (2 for the plain stack,
    /// `2^levels` for a UNet).
    pub fn side_multiple(&self) -> usize {
        1 << self.levels.clamp(1, Self::MAX_LEVELS)
    }

    /// Check the configuration.
    pub fn validate(&self) -> Result<()> {
        self.output_scale.validate()?;
        let min_depth = if self.levels == 1 { 2 } else { 1 };
        if self.channels == 0
            || self.features == 0
            || self.depth < min_depth
            || !(1..=Self::MAX_LEVELS).contains(&self.levels)
        {
            return Err(Error::param(
                "network",
                format!(
                    "need channels >= 1, features >= 1, levels 1 to {} and depth >= 2 \
                     (>= 1 for a UNet), got {:?}",
                    Self::MAX_LEVELS,
                    self
                ),
            ));
        }
        // (the fields may come from an untrusted file: bound them before any arithmetic)
        let huge = self.channels > 64 || self.features > 1 << 20 || self.depth > 1 << 20;
        let count = || -> u128 {
            self.layers()
                .iter()
                .map(|l| (l.cin * l.k * l.k + 1) as u128 * l.cout as u128)
                .sum()
        };
        if huge || count() > Self::MAX_PARAMETERS as u128 {
            return Err(Error::param(
                "network",
                format!(
                    "{} levels of depth {} with {} features is beyond the supported size \
                     ({} parameters at most)",
                    self.levels,
                    self.depth,
                    self.features,
                    Self::MAX_PARAMETERS
                ),
            ));
        }
        Ok(())
    }

    /// Every convolution in parameter order (only for a validated configuration).
    fn layers(&self) -> Vec<Layer> {
        let io = 4 * self.channels;
        let he = 2f32.sqrt();
        let layer = |name: String, cout, cin, k, gain| Layer {
            name,
            cout,
            cin,
            k,
            gain,
        };
        let mut out = Vec::new();
        if self.levels == 1 {
            for i in 0..self.depth {
                let last = i + 1 == self.depth;
                let cin = if i == 0 { io + 1 } else { self.features };
                let cout = if last { io } else { self.features };
                // (a 10x smaller last layer: the untrained network is near the identity)
                let gain = if last { 0.1 * he } else { he };
                out.push(layer(format!("conv{i}"), cout, cin, 3, gain));
            }
            return out;
        }
        let f = |l: usize| self.features << l;
        let blocks = |out: &mut Vec<Layer>, tag: &str, l: usize| {
            for b in 0..self.depth {
                out.push(layer(format!("{tag}{l}.{b}.conv0"), f(l), f(l), 3, he));
                // (the second convolution of a block starts small, so each block starts
                // near the identity and the untrained UNet near a linear map)
                out.push(layer(
                    format!("{tag}{l}.{b}.conv1"),
                    f(l),
                    f(l),
                    3,
                    0.1 * he,
                ));
            }
        };
        out.push(layer("head".into(), f(0), io + 1, 3, he));
        for l in 0..self.levels - 1 {
            blocks(&mut out, "enc", l);
            out.push(layer(format!("down{l}"), f(l + 1), 4 * f(l), 1, 1.0));
        }
        blocks(&mut out, "body", self.levels - 1);
        for l in (0..self.levels - 1).rev() {
            out.push(layer(format!("up{l}"), 4 * f(l), f(l + 1), 1, 1.0));
            blocks(&mut out, "dec", l);
        }
        out.push(layer("tail".into(), io, f(0), 3, 0.1));
        out
    }

    /// Parameters for this configuration that start from a trained network `from` with
    /// weights `params`: the same network when the configurations are equal; for a UNet
    /// that is `from` with more residual blocks per level (`depth` grown, everything else
    /// equal), `from`'s arrays by name with each new block appended after the old ones at
    /// its level, its first convolution freshly drawn from `rng` ([`Self::init`]) and its
    /// second one zero, so that the new block is the identity and the grown network
    /// computes exactly what `from` does (the new blocks then learn from there; a block
    /// whose second kernel is zero still gets a gradient there). Any other pair is refused.
    pub fn grown_from<R: Rng + ?Sized>(
        &self,
        from: &DenoiserConfig,
        params: &ParamSet,
        rng: &mut R,
    ) -> Result<ParamSet> {
        self.validate()?;
        from.validate()?;
        from.init(&mut posterior::rng(0))?
            .check_layout(params, "the initial weights")?;
        let same_but_depth = DenoiserConfig {
            depth: from.depth,
            ..*self
        } == *from;
        let grows = self.levels >= 2 && self.depth >= from.depth;
        if *self != *from && !(same_but_depth && grows) {
            return Err(Error::param(
                "init",
                format!(
                    "a {} ({}) cannot start from a {} ({}): the networks must be equal, or \
                     the new one a UNet with only more residual blocks per level",
                    self.kind(),
                    self.summary(),
                    from.kind(),
                    from.summary()
                ),
            ));
        }
        let mut out = self.init(rng)?;
        for p in &mut out.params {
            match params.get(&p.name) {
                Some(old) => p.data.clone_from(&old.data),
                // (only the second convolution of a new block: zero makes it the identity)
                None if p.name.contains(".conv1.") => p.data.iter_mut().for_each(|v| *v = 0.0),
                None => {}
            }
        }
        Ok(out)
    }

    /// Freshly initialised parameters: He-normal kernels (`std = √(2 / fan_in)`, He et al.
    /// 2015) for the layers followed by a ReLU, `√(1 / fan_in)` for the linear down- and
    /// upsampling, 10x smaller kernels for the last layer (and for the second convolution
    /// of each residual block), zero biases.
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ParamSet> {
        self.validate()?;
        let mut p = ParamSet::new();
        for l in self.layers() {
            let std = l.gain / ((l.cin * l.k * l.k) as f32).sqrt();
            p.push_normal(
                &format!("{}.weight", l.name),
                &[l.cout, l.cin, l.k, l.k],
                std,
                rng,
            );
            p.push_const(&format!("{}.bias", l.name), &[l.cout], 0.0);
        }
        Ok(p)
    }

    /// The denoised batch `x̂` for a noisy batch `y` (`[N, C, H, W]`, `H` and `W`
    /// multiples of [`side_multiple`](Self::side_multiple)) with per-image noise levels
    /// `sigma` (`[N]`); `params` as made by [`ParamSet::tensors`] from this configuration's
    /// layout.
    pub fn forward(&self, params: &[Tensor<1>], y: Tensor<4>, sigma: Tensor<1>) -> Tensor<4> {
        let [n, c, h, w] = y.dims();
        let m = self.side_multiple();
        debug_assert!(h % m == 0 && w % m == 0 && c == self.channels);
        let (h2, w2) = (h / 2, w / 2);
        let u = unshuffle(y.clone());
        let sigma = sigma.reshape([n, 1, 1, 1]);
        let s = sigma.clone().expand([n, 1, h2, w2]);
        let t = Tensor::cat(vec![u, s], 1);
        let layers = self.layers();
        let mut net = Convs {
            layers: &layers,
            params,
            next: 0,
        };
        let noise = if self.levels == 1 {
            let mut t = t;
            for i in 0..self.depth {
                t = net.conv(t);
                if i + 1 < self.depth {
                    t = relu(t);
                }
            }
            t
        } else {
            let d = self.depth;
            let mut t = relu(net.conv(t));
            let mut skips = Vec::with_capacity(self.levels - 1);
            for _ in 0..self.levels - 1 {
                t = net.blocks(t, d);
                skips.push(t.clone());
                t = net.conv(unshuffle(t));
            }
            t = net.blocks(t, d);
            for l in (0..self.levels - 1).rev() {
                let skip = skips.pop().expect("one skip per level");
                t = shuffle(net.conv(t), self.features << l) + skip;
                t = net.blocks(t, d);
            }
            net.conv(t)
        };
        debug_assert_eq!(net.next, layers.len());
        let factor = match self.output_scale {
            OutputScale::One => None,
            OutputScale::Sigma => Some(sigma),
            OutputScale::Knee(k) => {
                Some(sigma.clone() / sigma.powi_scalar(2).add_scalar(k * k).sqrt())
            }
        };
        let noise = match factor {
            Some(f) => noise * f.expand([n, 4 * c, h2, w2]),
            None => noise,
        };
        y - shuffle(noise, c)
    }
}

/// The network's convolutions applied in parameter order.
struct Convs<'a> {
    layers: &'a [Layer],
    params: &'a [Tensor<1>],
    next: usize,
}

impl Convs<'_> {
    /// The next convolution ("same" padding).
    fn conv(&mut self, t: Tensor<4>) -> Tensor<4> {
        let (l, i) = (&self.layers[self.next], self.next);
        self.next += 1;
        let k = self.params[2 * i]
            .clone()
            .reshape([l.cout, l.cin, l.k, l.k]);
        let b = self.params[2 * i + 1].clone();
        let pad = l.k / 2;
        conv2d(
            t,
            k,
            Some(b),
            ConvOptions::new([1, 1], [pad, pad], [1, 1], 1),
        )
    }

    /// `depth` residual blocks `t + conv(relu(conv(t)))`.
    fn blocks(&mut self, mut t: Tensor<4>, depth: usize) -> Tensor<4> {
        for _ in 0..depth {
            let r = self.conv(t.clone());
            t = t + self.conv(relu(r));
        }
        t
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
