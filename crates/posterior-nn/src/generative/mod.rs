//! Generative priors trained by the project: a VAE ([`vae`]) and a DCGAN ([`gan`]) on
//! 28x28 digit images ([`digits`]), their training ([`train`]), and [`GenPrior`], which puts
//! either decoder behind [`GenerativePrior`] for latent MAP ([`crate::csgm`]) and sampling.

pub mod digits;
pub mod gan;
pub mod method;
pub mod shipped;
pub mod train;
pub mod vae;

use std::path::Path;

use burn_tensor::{Device, Tensor, TensorData};
use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, IxDyn};
use posterior::{Error, Result};

use crate::params::{ParamSet, to_vec};
use crate::prior::GenerativePrior;
use crate::weights::WeightFile;
use gan::GanConfig;
use vae::{DECODER_START, VaeConfig};

/// Which network a [`GenPrior`] runs.
#[derive(Clone, Debug, PartialEq)]
pub enum GenModel {
    /// A VAE: all parameters (encoder then decoder).
    Vae(VaeConfig),
    /// A DCGAN generator.
    Gan(GanConfig),
}

/// A trained decoder `G: R^k → [0, 1]^{H x W}` (VAE mean image or GAN generator) as a
/// [`GenerativePrior`].
pub struct GenPrior {
    model: GenModel,
    params: ParamSet,
    device: Device,
    plain: Vec<Tensor<1>>,
    tracked_dev: Device,
    tracked: Vec<Tensor<1>>,
    label: String,
    /// The last small batch decoded with its autodiff graph, so that a following
    /// [`GenerativePrior::vjp`] at the same latents (the latent-MAP loop: decode, form the
    /// residual, pull it back) backpropagates through it instead of decoding again.
    last: std::sync::Mutex<Vec<Decoded>>,
}

struct Decoded {
    z: Array2<f32>,
    z_tensor: Tensor<2>,
    out: Tensor<2>,
}

/// Batches up to this size keep their graph for a following VJP.
const CACHE_BATCH: usize = 64;
/// Decoded batches kept (one per thread decoding in parallel, within reason).
const CACHE_ENTRIES: usize = 8;

impl GenPrior {
    /// A prior from a model and its parameters (layout checked) on `device`.
    pub fn new(model: GenModel, params: ParamSet, device: Device, label: &str) -> Result<Self> {
        let layout = match &model {
            GenModel::Vae(c) => c.init(&mut posterior::rng(0))?,
            GenModel::Gan(c) => c.init_generator(&mut posterior::rng(0))?,
        };
        layout.check_layout(&params, label)?;
        if !params.all_finite() {
            return Err(Error::param(label, "the weights hold non-finite values"));
        }
        let tracked_dev = device.clone().autodiff();
        Ok(Self {
            plain: params.tensors(&device, false),
            tracked: params.tensors(&tracked_dev, false),
            model,
            params,
            device,
            tracked_dev,
            label: label.to_string(),
            last: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Read a weight file written by `posterior train vae|gan`.
    pub fn from_bytes(bytes: &[u8], origin: &str, device: Device) -> Result<Self> {
        let f = WeightFile::from_bytes(bytes, origin)?;
        let kind = f.meta("posterior.kind")?.to_string();
        let (model, params) = match kind.as_str() {
            VaeConfig::KIND => {
                let c: VaeConfig = f.config(VaeConfig::KIND)?;
                c.validate()?;
                let p = f.params("vae/", &c.init(&mut posterior::rng(0))?)?;
                (GenModel::Vae(c), p)
            }
            GanConfig::KIND => {
                let c: GanConfig = f.config(GanConfig::KIND)?;
                c.validate()?;
                let p = f.params("g/", &c.init_generator(&mut posterior::rng(0))?)?;
                (GenModel::Gan(c), p)
            }
            other => {
                return Err(Error::Format {
                    path: origin.into(),
                    reason: format!(
                        "holds a `{other}` network, expected a generative model (`{}` or `{}`)",
                        VaeConfig::KIND,
                        GanConfig::KIND
                    ),
                });
            }
        };
        Self::new(model, params, device, origin)
    }

    /// Read a weight file from disk.
    pub fn from_file(path: &Path, device: Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string(), device)
    }

    /// The network.
    pub fn model(&self) -> &GenModel {
        &self.model
    }

    /// The parameters.
    pub fn params(&self) -> &ParamSet {
        &self.params
    }

    fn decoder<'a>(&self, t: &'a [Tensor<1>]) -> &'a [Tensor<1>] {
        match self.model {
            GenModel::Vae(_) => &t[DECODER_START..],
            GenModel::Gan(_) => t,
        }
    }

    fn hw(&self) -> (usize, usize) {
        match &self.model {
            GenModel::Vae(c) => (c.height, c.width),
            GenModel::Gan(c) => (c.height, c.width),
        }
    }

    fn run(&self, t: &[Tensor<1>], z: Tensor<2>) -> Tensor<2> {
        let [b, _] = z.dims();
        let (h, w) = self.hw();
        match &self.model {
            GenModel::Vae(c) => c.decode(self.decoder(t), z),
            GenModel::Gan(c) => c.generate(t, z).reshape([b, h * w]),
        }
    }

    fn check_z(&self, z: &ArrayView2<f32>) -> Result<()> {
        if z.ncols() != self.latent_dim() || z.nrows() == 0 {
            return Err(Error::Shape {
                context: format!("latent batch of {}", self.label),
                expected: vec![z.nrows().max(1), self.latent_dim()],
                got: z.shape().to_vec(),
            });
        }
        posterior::io::check_finite("latent", z.view().into_dyn())
    }

    fn images(&self, t: Tensor<2>, b: usize) -> Result<ArrayD<f32>> {
        let (h, w) = self.hw();
        ArrayD::from_shape_vec(IxDyn(&[b, h, w]), to_vec(t)?)
            .map_err(|e| Error::param("decoder output", e.to_string()))
    }
}

fn latent_tensor(z: &ArrayView2<f32>, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(
        TensorData::new(
            z.iter().copied().collect::<Vec<_>>(),
            [z.nrows(), z.ncols()],
        ),
        device,
    )
}

impl GenerativePrior for GenPrior {
    fn describe(&self) -> String {
        match &self.model {
            GenModel::Vae(c) => format!(
                "VAE decoder ({} latents, {}-{}-{}, {})",
                c.latent,
                c.hidden,
                c.hidden,
                c.pixels(),
                self.label
            ),
            GenModel::Gan(c) => format!(
                "DCGAN generator ({} latents, {} features, {})",
                c.latent, c.features, self.label
            ),
        }
    }

    fn latent_dim(&self) -> usize {
        match &self.model {
            GenModel::Vae(c) => c.latent,
            GenModel::Gan(c) => c.latent,
        }
    }

    fn image_shape(&self) -> Vec<usize> {
        let (h, w) = self.hw();
        vec![h, w]
    }

    fn decode(&self, z: ArrayView2<f32>) -> Result<ArrayD<f32>> {
        self.check_z(&z)?;
        if z.nrows() > CACHE_BATCH {
            let out = self.run(&self.plain, latent_tensor(&z, &self.device));
            return self.images(out, z.nrows());
        }
        let zt = latent_tensor(&z, &self.tracked_dev).require_grad();
        let out = self.run(&self.tracked, zt.clone());
        let images = self.images(out.clone().inner(), z.nrows())?;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // A few entries, so that threads sharing the prior do not evict each other's.
        if last.len() >= CACHE_ENTRIES {
            last.remove(0);
        }
        last.push(Decoded {
            z: z.to_owned(),
            z_tensor: zt,
            out,
        });
        Ok(images)
    }

    fn vjp(&self, z: ArrayView2<f32>, r: ArrayViewD<f32>) -> Result<(ArrayD<f32>, Array2<f32>)> {
        self.check_z(&z)?;
        let (h, w) = self.hw();
        let b = z.nrows();
        if r.shape() != [b, h, w] {
            return Err(Error::Shape {
                context: format!("image-space cotangent of {}", self.label),
                expected: vec![b, h, w],
                got: r.shape().to_vec(),
            });
        }
        let cached = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            last.iter().rposition(|d| d.z == z).map(|i| last.remove(i))
        };
        let (zt, out) = match cached {
            Some(d) => (d.z_tensor, d.out),
            None => {
                let zt = latent_tensor(&z, &self.tracked_dev).require_grad();
                let out = self.run(&self.tracked, zt.clone());
                (zt, out)
            }
        };
        let rt = Tensor::<2>::from_data(
            TensorData::new(r.iter().copied().collect::<Vec<_>>(), [b, h * w]),
            &self.tracked_dev,
        );
        let value = out.clone().inner();
        let grads = (out * rt).sum().backward();
        let g = zt
            .grad(&grads)
            .ok_or_else(|| Error::Spec("the generator recorded no gradient for z".into()))?;
        let g = Array2::from_shape_vec((b, self.latent_dim()), to_vec(g)?)
            .map_err(|e| Error::param("latent gradient", e.to_string()))?;
        Ok((self.images(value, b)?, g))
    }

    fn encode_mean(&self, x: ArrayViewD<f32>) -> Result<Option<Array2<f32>>> {
        let GenModel::Vae(c) = &self.model else {
            return Ok(None);
        };
        let (h, w) = self.hw();
        if x.ndim() != 3 || x.shape()[1..] != [h, w] || x.shape()[0] == 0 {
            return Err(Error::Shape {
                context: format!("images to encode with {}", self.label),
                expected: vec![x.shape().first().copied().unwrap_or(1).max(1), h, w],
                got: x.shape().to_vec(),
            });
        }
        posterior::io::check_finite("images to encode", x.view())?;
        let b = x.shape()[0];
        let xt = Tensor::<2>::from_data(
            TensorData::new(x.iter().copied().collect::<Vec<_>>(), [b, h * w]),
            &self.device,
        );
        let (mu, _) = c.encode(&self.plain, xt);
        Ok(Some(
            Array2::from_shape_vec((b, c.latent), to_vec(mu)?)
                .map_err(|e| Error::param("encoder output", e.to_string()))?,
        ))
    }
}

/// `n` latent vectors of dimension `k`, i.i.d. `N(0, 1)` entries from `seed`.
pub fn sample_latents(n: usize, k: usize, seed: u64) -> Array2<f32> {
    let mut rng = posterior::rng(seed);
    Array2::from_shape_fn((n, k), |_| {
        rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, &mut rng)
    })
}
