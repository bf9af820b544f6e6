//! [`LearnedDenoiser`]: the trained noise-conditioned network behind the core's
//! [`Denoiser`] trait (spec `learned`), and behind [`NoiseConditionedDenoiser`].
//!
//! The project ships three gray networks, compiled into the binary and checked against
//! `weights/MANIFEST.json`'s SHA-256 on load: the plain FFDNet-style stack
//! (`weights/denoiser-gray.safetensors`, the default, `net=plain`), a DRUNet-style UNet
//! (`weights/denoiser-gray-unet.safetensors`, `net=unet`) and that UNet fine-tuned with
//! more generated phantoms, anti-aliased and point-sampled, last on the squared error
//! (`weights/denoiser-gray-unet-phantom.safetensors`, `net=phantom`); `weights=PATH` loads another
//! file trained by `posterior train denoiser`. Colour images are denoised
//! channel by channel with the gray network. Sides the network cannot take (odd ones; for a
//! UNet, any that is not a multiple of `2^levels`) are extended by mirroring before the
//! network and cropped afterwards.

use burn_tensor::{Device, Tensor, TensorData};
use ndarray::{Array4, ArrayD, ArrayView4, ArrayViewD, Axis, Ix4, IxDyn, Slice};
use posterior::denoise::{Denoiser, DenoiserEntry, Dihedral, check_input};
use posterior::spec::Spec;
use posterior::{Error, Result};

use crate::convert::image_dims;
use crate::net::DenoiserConfig;
use crate::params::{ParamSet, to_vec};
use crate::prior::NoiseConditionedDenoiser;
use crate::weights::{ManifestEntry, WeightFile, parse_manifest, verify_sha256};

/// The manifest of the shipped weights.
pub const MANIFEST: &str = include_str!("../weights/MANIFEST.json");
/// The shipped gray denoiser's weights.
pub const SHIPPED_GRAY: &[u8] = include_bytes!("../weights/denoiser-gray.safetensors");
/// Manifest name of the shipped gray denoiser.
pub const SHIPPED_GRAY_NAME: &str = "denoiser-gray";
/// The shipped gray UNet's weights (`net=unet`).
pub const SHIPPED_GRAY_UNET: &[u8] = include_bytes!("../weights/denoiser-gray-unet.safetensors");
/// Manifest name of the shipped gray UNet.
pub const SHIPPED_GRAY_UNET_NAME: &str = "denoiser-gray-unet";
/// The shipped phantom-tuned gray UNet's weights (`net=phantom`).
pub const SHIPPED_GRAY_PHANTOM: &[u8] =
    include_bytes!("../weights/denoiser-gray-unet-phantom.safetensors");
/// Manifest name of the shipped phantom-tuned gray UNet.
pub const SHIPPED_GRAY_PHANTOM_NAME: &str = "denoiser-gray-unet-phantom";

/// The shipped gray networks, by the `net=` name of the `learned` spec: (net, manifest
/// name, weight bytes). The first is the default.
pub const SHIPPED_NETS: &[(&str, &str, &[u8])] = &[
    ("plain", SHIPPED_GRAY_NAME, SHIPPED_GRAY),
    ("unet", SHIPPED_GRAY_UNET_NAME, SHIPPED_GRAY_UNET),
    ("phantom", SHIPPED_GRAY_PHANTOM_NAME, SHIPPED_GRAY_PHANTOM),
];

/// A trained denoising network.
#[derive(Clone, Debug)]
pub struct LearnedDenoiser {
    config: DenoiserConfig,
    params: ParamSet,
    device: Device,
    origin: String,
    ensemble: usize,
}

impl LearnedDenoiser {
    /// Wrap trained parameters (their layout must match `config`).
    pub fn new(
        config: DenoiserConfig,
        params: ParamSet,
        device: Device,
        origin: &str,
    ) -> Result<Self> {
        let layout = config.init(&mut posterior::rng(0))?;
        layout.check_layout(&params, origin)?;
        Ok(Self {
            config,
            params,
            device,
            origin: origin.to_string(),
            ensemble: 1,
        })
    }

    /// Denoise through the [`Denoiser`] trait with the geometric self-ensemble of `k`
    /// flips/rotations (1 to 8; see [`run_ensemble`](Self::run_ensemble)).
    pub fn with_ensemble(mut self, k: usize) -> Result<Self> {
        check_ensemble(k)?;
        self.ensemble = k;
        Ok(self)
    }

    /// Load from a parsed weight file, checking its architecture and every array.
    pub fn from_file(file: &WeightFile, device: Device) -> Result<Self> {
        let config = DenoiserConfig::from_file(file)?;
        config.validate()?;
        let layout = config.init(&mut posterior::rng(0))?;
        let params = file.params("", &layout)?;
        Self::new(config, params, device, &file.origin)
    }

    /// Load a weight file from disk.
    pub fn load(path: &std::path::Path, device: Device) -> Result<Self> {
        Self::from_file(&WeightFile::read(path)?, device)
    }

    /// The shipped gray denoiser (the plain stack), verified against the manifest's SHA-256.
    pub fn shipped(device: Device) -> Result<Self> {
        Self::shipped_net(SHIPPED_NETS[0].0, device)
    }

    /// A shipped gray network by its `net=` name ([`SHIPPED_NETS`]: `plain`, `unet` or `phantom`),
    /// verified against the manifest's SHA-256.
    pub fn shipped_net(net: &str, device: Device) -> Result<Self> {
        let (bytes, entry) = shipped_bytes(net)?;
        let file = WeightFile::from_bytes(bytes, &format!("weights/{}", entry.file))?;
        Self::from_file(&file, device)
    }

    /// The architecture.
    pub fn config(&self) -> &DenoiserConfig {
        &self.config
    }

    /// The parameters.
    pub fn params(&self) -> &ParamSet {
        &self.params
    }

    fn forward_batch(&self, y: Tensor<4>, sigma: &[f32], device: &Device) -> Tensor<4> {
        let tensors = self.params.tensors(device, false);
        let s = Tensor::<1>::from_data(TensorData::new(sigma.to_vec(), [sigma.len()]), device);
        self.config.forward(&tensors, y, s)
    }

    /// Denoise one image (`[H, W]`, or `[C, H, W]` channel by channel) at level `sigma`
    /// (`sigma = 0` allowed here: the network was trained from σ = 0; the [`Denoiser`]
    /// entry point asks for `sigma > 0` like every denoiser). Non-finite input, or a `sigma`
    /// that is negative or not finite, is an error, as is a non-finite output.
    pub fn run(&self, y: ArrayViewD<f32>, sigma: f32) -> Result<ArrayD<f32>> {
        self.run_ensemble(y, sigma, 1)
    }

    /// [`run`](Self::run) averaged over the first `k` (1 to 8) of the eight flips and
    /// rotations of the image (the geometric self-ensemble of Timofte et al., CVPR 2016,
    /// "Seven ways to improve example-based single image super resolution"): each
    /// transformed copy is denoised and transformed back, and the results are averaged.
    /// `k = 1` is the plain network; `k = 8` costs eight passes. The order is identity,
    /// the two flips, the half turn, then the four that exchange the axes.
    pub fn run_ensemble(&self, y: ArrayViewD<f32>, sigma: f32, k: usize) -> Result<ArrayD<f32>> {
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(Error::param(
                "sigma",
                format!("the noise level must be finite and >= 0, got {sigma}"),
            ));
        }
        check_ensemble(k)?;
        posterior::io::check_finite("denoiser input", y.view())?;
        let (c, h, w) = image_dims(y.shape())?;
        if self.config.channels != 1 && self.config.channels != c {
            return Err(Error::Shape {
                context: format!("{} input channels", self.describe()),
                expected: vec![self.config.channels],
                got: vec![c],
            });
        }
        let per = if self.config.channels == 1 { 1 } else { c };
        // Stack the channels as a batch (gray network) or keep them (colour network).
        let y4 = y
            .to_shape(IxDyn(&[c / per, per, h, w]))
            .map_err(|e| Error::param("image", e.to_string()))?
            .into_dimensionality::<Ix4>()
            .map_err(|e| Error::param("image", e.to_string()))?;
        let mut sum = Array4::<f32>::zeros((c / per, per, h, w));
        for t in &Dihedral::ALL[..k] {
            let out = self.forward_planes(t.apply(y4.view()), sigma)?;
            sum += &t.invert(out.view());
        }
        if k > 1 {
            sum /= k as f32;
        }
        let out = sum
            .into_dyn()
            .into_shape_with_order(IxDyn(y.shape()))
            .map_err(|e| Error::param("network output", e.to_string()))?;
        posterior::io::check_finite("network output", out.view())?;
        Ok(out)
    }

    /// The network on a stack `[N, C, H, W]` at one level: sides that are not multiples of
    /// the network's [`side_multiple`](DenoiserConfig::side_multiple) are extended by
    /// mirroring (without repeating the edge) and cropped afterwards.
    fn forward_planes(&self, y: ArrayView4<f32>, sigma: f32) -> Result<Array4<f32>> {
        let (n, per, h, w) = y.dim();
        let m = self.config.side_multiple();
        let (hp, wp) = (h.div_ceil(m) * m, w.div_ceil(m) * m);
        let mut data = Vec::with_capacity(n * per * hp * wp);
        for b in 0..n {
            for ch in 0..per {
                let plane = y.index_axis(Axis(0), b);
                let plane = plane.index_axis(Axis(0), ch);
                for i in 0..hp {
                    let ii = mirror(i, h);
                    for j in 0..wp {
                        data.push(plane[[ii, mirror(j, w)]]);
                    }
                }
            }
        }
        let t = Tensor::<4>::from_data(TensorData::new(data, [n, per, hp, wp]), &self.device);
        let out = self.forward_batch(t, &vec![sigma; n], &self.device);
        let full = Array4::from_shape_vec((n, per, hp, wp), to_vec(out)?)
            .map_err(|e| Error::param("network output", e.to_string()))?;
        Ok(full
            .slice_axis(Axis(2), Slice::from(..h))
            .slice_axis(Axis(3), Slice::from(..w))
            .to_owned())
    }
}

/// Index `i` of a signal of length `n` extended periodically by its mirror image without
/// repeating the ends (`…, 2, 1, 0, 1, 2, …, n−2, n−1, n−2, …`).
fn mirror(i: usize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let p = 2 * (n - 1);
    let r = i % p;
    if r < n { r } else { p - r }
}

fn check_ensemble(k: usize) -> Result<()> {
    if (1..=8).contains(&k) {
        Ok(())
    } else {
        Err(Error::param(
            "ensemble",
            format!("the number of flips/rotations must be 1 to 8, got {k}"),
        ))
    }
}

impl Denoiser for LearnedDenoiser {
    fn describe(&self) -> String {
        let ensemble = if self.ensemble > 1 {
            format!(", x{} ensemble", self.ensemble)
        } else {
            String::new()
        };
        format!(
            "learned({} {}, {}{ensemble})",
            self.config.kind(),
            self.config.shape_label(),
            self.origin
        )
    }

    fn denoise(&self, y: ArrayViewD<f32>, sigma: f32) -> Result<ArrayD<f32>> {
        check_input(&y, sigma, 2)?;
        self.run_ensemble(y, sigma, self.ensemble)
    }
}

impl NoiseConditionedDenoiser for LearnedDenoiser {
    fn channels(&self) -> usize {
        self.config.channels
    }

    fn denoise_batch(&self, y: ArrayViewD<f32>, sigma: &[f32]) -> Result<ArrayD<f32>> {
        let (t, shape) = self.batch_tensor(&y, sigma, &self.device)?;
        let out = self.forward_batch(t, sigma, &self.device);
        ArrayD::from_shape_vec(IxDyn(&shape), to_vec(out)?)
            .map_err(|e| Error::param("network output", e.to_string()))
    }

    fn vjp(
        &self,
        y: ArrayViewD<f32>,
        sigma: &[f32],
        r: ArrayViewD<f32>,
    ) -> Result<(ArrayD<f32>, ArrayD<f32>)> {
        if r.shape() != y.shape() {
            return Err(Error::Shape {
                context: "cotangent of the denoiser VJP".into(),
                expected: y.shape().to_vec(),
                got: r.shape().to_vec(),
            });
        }
        let dev = self.device.clone().autodiff();
        let (t, shape) = self.batch_tensor(&y, sigma, &dev)?;
        let x = t.require_grad();
        let out = self.forward_batch(x.clone(), sigma, &dev);
        let rt = Tensor::<4>::from_data(
            TensorData::new(
                r.iter().copied().collect::<Vec<_>>(),
                [shape[0], shape[1], shape[2], shape[3]],
            ),
            &dev,
        );
        let value = out.clone().inner();
        let grads = (out * rt).sum().backward();
        let g = x
            .grad(&grads)
            .ok_or_else(|| Error::Spec("the network recorded no gradient for its input".into()))?;
        let d = ArrayD::from_shape_vec(IxDyn(&shape), to_vec(value)?)
            .map_err(|e| Error::param("network output", e.to_string()))?;
        let gv = ArrayD::from_shape_vec(IxDyn(&shape), to_vec(g)?)
            .map_err(|e| Error::param("network VJP", e.to_string()))?;
        Ok((d, gv))
    }
}

impl LearnedDenoiser {
    fn batch_tensor(
        &self,
        y: &ArrayViewD<f32>,
        sigma: &[f32],
        device: &Device,
    ) -> Result<(Tensor<4>, Vec<usize>)> {
        let shape = y.shape().to_vec();
        if shape.len() != 4 || shape[1] != self.config.channels {
            return Err(Error::Shape {
                context: "denoiser batch [N, C, H, W]".into(),
                expected: vec![sigma.len(), self.config.channels, 0, 0],
                got: shape,
            });
        }
        if shape[0] != sigma.len() {
            return Err(Error::param(
                "sigma",
                format!("{} noise levels for a batch of {}", sigma.len(), shape[0]),
            ));
        }
        let m = self.config.side_multiple();
        if shape[2] % m != 0 || shape[3] % m != 0 {
            return Err(Error::param(
                "batch",
                format!(
                    "image sides must be multiples of {m} for batches, got {}x{}",
                    shape[2], shape[3]
                ),
            ));
        }
        if let Some(s) = sigma.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(Error::param(
                "sigma",
                format!("must be finite and >= 0, got {s}"),
            ));
        }
        posterior::io::check_finite("denoiser input", y.view())?;
        let data: Vec<f32> = y.iter().copied().collect();
        let t = Tensor::<4>::from_data(
            TensorData::new(data, [shape[0], shape[1], shape[2], shape[3]]),
            device,
        );
        Ok((t, shape))
    }
}

/// A shipped gray network's weight file by its `net=` name ([`SHIPPED_NETS`]), verified
/// against the manifest's SHA-256, with its manifest entry.
pub fn shipped_bytes(net: &str) -> Result<(&'static [u8], ManifestEntry)> {
    let Some(&(_, name, bytes)) = SHIPPED_NETS.iter().find(|(n, _, _)| *n == net) else {
        let known: Vec<&str> = SHIPPED_NETS.iter().map(|(n, _, _)| *n).collect();
        return Err(Error::param(
            "net",
            format!(
                "unknown shipped network `{net}`; valid: {}",
                known.join(", ")
            ),
        ));
    };
    let entry = shipped_entry(name)?;
    verify_sha256(bytes, &entry)?;
    Ok((bytes, entry))
}

/// The manifest entry named `name`.
pub fn shipped_entry(name: &str) -> Result<ManifestEntry> {
    parse_manifest(MANIFEST)?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            Error::Spec(format!(
                "no weights named `{name}` in weights/MANIFEST.json"
            ))
        })
}

/// Keys of the `learned` denoiser spec.
pub const KEYS: &[(&str, &str)] = &[
    (
        "net",
        "shipped network: plain (default; FFDNet-style stack), unet (DRUNet-style; better at σ ≥ 10/255 on natural and MRI images and in PnP, worse at σ = 2/255 and on piecewise-constant phantoms at σ ≤ 15/255) or phantom (the unet fine-tuned with more generated phantoms, many with hard staircase edges, last on the squared error; as a denoiser the best of the three on every held-out image at σ ≥ 5/255, above all on piecewise-constant ones, and better in PnP/CT on those, but below unet inside PnP on natural and MRI images (0.2 dB on the mean of the seven bundled photographs with the default transforms=cycle): use unet there)",
    ),
    (
        "weights",
        "weight file from `posterior train denoiser` instead of a shipped network",
    ),
    ("device", "cpu (default), or vulkan in a gpu-vulkan build"),
    (
        "ensemble",
        "average over 1 (default) to 8 flips/rotations of the input (8: the x8 self-ensemble, 8x the time)",
    ),
];

fn build(spec: &Spec) -> Result<Box<dyn Denoiser>> {
    let args = spec.args(&["net", "weights", "device", "ensemble"])?;
    let device = crate::device_by_name(args.str_opt("device").unwrap_or("cpu"))?;
    let ensemble = args.usize_in("ensemble", 1, 1, 8)?;
    let d = match (args.str_opt("weights"), args.str_opt("net")) {
        (Some(_), Some(_)) => {
            return Err(Error::param(
                "net",
                "give either net= (a shipped network) or weights= (a file), not both",
            ));
        }
        (Some(path), None) => LearnedDenoiser::load(std::path::Path::new(path), device)?,
        (None, net) => LearnedDenoiser::shipped_net(net.unwrap_or(SHIPPED_NETS[0].0), device)?,
    };
    Ok(Box::new(d.with_ensemble(ensemble)?))
}

/// The registry entry of `learned`.
pub fn entry() -> DenoiserEntry {
    DenoiserEntry {
        name: "learned",
        summary: "noise-level-conditioned CNN trained by the project (FFDNet-style stack, or net=unet / net=phantom), residual; gray, colour channel by channel",
        keys: KEYS,
        build,
    }
}
