//! Training the generative priors: the VAE by maximising the ELBO, the DCGAN with the
//! non-saturating loss, both with Adam on seeded mini-batches, periodic evaluation on held-out
//! images, atomic checkpoints and an exact resume (every random draw of step `k` comes from
//! [`step_rng`]`(seed, k)`, so a resumed run repeats the uninterrupted one bit for bit).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn_tensor::activation::softplus;
use burn_tensor::{Device, Tensor, TensorData};
use ndarray::Array2;
use posterior::{Error, Result};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::digits::ImageStack;
use super::gan::GanConfig;
use super::vae::{DECODER_START, VaeConfig, matrix};
use super::{GenModel, GenPrior};
use crate::params::{ParamSet, to_vec};
use crate::prior::GenerativePrior;
use crate::train::adam::Adam;
use crate::train::step_rng;
use crate::weights::{self, WeightFile};

/// The model being trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum GenNet {
    /// A VAE.
    Vae(VaeConfig),
    /// A DCGAN.
    Gan(GanConfig),
}

impl GenNet {
    /// Image `(height, width)`.
    pub fn hw(&self) -> (usize, usize) {
        match self {
            GenNet::Vae(c) => (c.height, c.width),
            GenNet::Gan(c) => (c.height, c.width),
        }
    }
}

/// Settings of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenTrainConfig {
    /// The network.
    pub net: GenNet,
    /// Optimizer steps in total.
    pub steps: u64,
    /// Images per batch.
    pub batch: usize,
    /// Adam step size (constant; the GAN's generator and discriminator share it).
    pub lr: f32,
    /// Adam's β₁ (0.9 for the VAE, 0.5 for the GAN as in DCGAN).
    pub beta1: f32,
    /// Seed of the initial weights and every batch.
    pub seed: u64,
    /// Steps between evaluations (0: at the end only).
    pub eval_every: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
}

impl GenTrainConfig {
    /// Defaults for the VAE: 10 000 steps of 100 images, Adam 1e-3.
    pub fn vae(net: VaeConfig) -> Self {
        Self {
            net: GenNet::Vae(net),
            steps: 10_000,
            batch: 100,
            lr: 1e-3,
            beta1: 0.9,
            seed: 0,
            eval_every: 2000,
            checkpoint_every: 500,
        }
    }

    /// Defaults for the DCGAN: 5000 steps of 64 images, Adam 2e-4 with β₁ = 0.5.
    pub fn gan(net: GanConfig) -> Self {
        Self {
            net: GenNet::Gan(net),
            steps: 5000,
            batch: 64,
            lr: 2e-4,
            beta1: 0.5,
            seed: 0,
            eval_every: 1000,
            checkpoint_every: 250,
        }
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        match &self.net {
            GenNet::Vae(c) => c.validate()?,
            GenNet::Gan(c) => c.validate()?,
        }
        if self.batch == 0 || self.checkpoint_every == 0 {
            return Err(Error::param(
                "training",
                "batch and checkpoint_every must be >= 1",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && (0.0..1.0).contains(&self.beta1)) {
            return Err(Error::param(
                "training",
                format!(
                    "need lr > 0 and 0 <= beta1 < 1, got {} and {}",
                    self.lr, self.beta1
                ),
            ));
        }
        Ok(())
    }
}

/// One evaluation on held-out images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenEval {
    /// Steps done.
    pub step: u64,
    /// Named figures (see [`evaluate`]).
    pub metrics: Vec<(String, f64)>,
}

/// The state of a run: what a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct GenCheckpoint {
    /// Settings.
    pub config: GenTrainConfig,
    /// Steps done.
    pub step: u64,
    /// Trainable sets by prefix (`vae/`; or `g/`, `d/`) with their Adam states.
    pub sets: Vec<(String, ParamSet, Adam)>,
    /// Non-trainable state (the GAN's spectral-norm vectors, prefix `sn/`).
    pub state: Vec<(String, ParamSet)>,
    /// Evaluations so far.
    pub evals: Vec<GenEval>,
    /// Training data (file name and image count).
    pub data: String,
    /// Content fingerprint of the training images ([`ImageStack::fingerprint`]); `None` in
    /// checkpoints written before it was recorded (then only the name is checked, and the
    /// resumed run records it).
    pub data_sha256: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    config: GenTrainConfig,
    step: u64,
    adam_t: Vec<u64>,
    evals: Vec<GenEval>,
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_sha256: Option<String>,
}

/// Architecture name of generative checkpoints.
pub const CHECKPOINT_KIND: &str = "checkpoint:generative";

impl GenCheckpoint {
    /// A fresh run.
    pub fn fresh(config: &GenTrainConfig, data: String) -> Result<Self> {
        config.validate()?;
        let mut rng = posterior::rng(config.seed);
        let adam = |p: &ParamSet| {
            let mut a = Adam::new(p);
            a.beta1 = config.beta1;
            a
        };
        let (sets, state) = match &config.net {
            GenNet::Vae(c) => {
                let p = c.init(&mut rng)?;
                (vec![("vae/".to_string(), p.clone(), adam(&p))], vec![])
            }
            GenNet::Gan(c) => {
                let g = c.init_generator(&mut rng)?;
                let d = c.init_discriminator(&mut rng)?;
                let sn = c.init_sn_state(&mut rng)?;
                (
                    vec![
                        ("g/".to_string(), g.clone(), adam(&g)),
                        ("d/".to_string(), d.clone(), adam(&d)),
                    ],
                    vec![("sn/".to_string(), sn)],
                )
            }
        };
        Ok(Self {
            config: config.clone(),
            step: 0,
            sets,
            state,
            evals: vec![],
            data,
            data_sha256: None,
        })
    }

    /// Write atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let meta = Meta {
            config: self.config.clone(),
            step: self.step,
            adam_t: self.sets.iter().map(|s| s.2.t).collect(),
            evals: self.evals.clone(),
            data: self.data.clone(),
            data_sha256: self.data_sha256.clone(),
        };
        let names: Vec<[String; 3]> = self
            .sets
            .iter()
            .map(|(p, _, _)| [p.clone(), format!("adam.m/{p}"), format!("adam.v/{p}")])
            .collect();
        let mut sets: Vec<(&str, &ParamSet)> = Vec::new();
        for ((_, p, a), n) in self.sets.iter().zip(&names) {
            sets.push((&n[0], p));
            sets.push((&n[1], &a.m));
            sets.push((&n[2], &a.v));
        }
        for (prefix, s) in &self.state {
            sets.push((prefix, s));
        }
        weights::save(
            path,
            &sets,
            &[
                ("posterior.kind", CHECKPOINT_KIND.to_string()),
                ("posterior.config", json(&self.config.net)?),
                ("posterior.train", json(&meta)?),
            ],
        )
    }

    /// Read a checkpoint written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let f = WeightFile::read(path)?;
        let (_, meta): (GenNet, Meta) =
            f.training_state(CHECKPOINT_KIND, |m: &Meta| &m.config.net)?;
        let mut ck = Self::fresh(&meta.config, meta.data.clone())?;
        if meta.adam_t.len() != ck.sets.len() {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: "optimizer state does not match the network".into(),
            });
        }
        for ((prefix, p, a), t) in ck.sets.iter_mut().zip(&meta.adam_t) {
            *p = f.params(prefix, p)?;
            a.m = f.params(&format!("adam.m/{prefix}"), &a.m)?;
            a.v = f.params(&format!("adam.v/{prefix}"), &a.v)?;
            a.t = *t;
        }
        for (prefix, s) in ck.state.iter_mut() {
            *s = f.params(prefix, s)?;
        }
        ck.step = meta.step;
        ck.evals = meta.evals;
        ck.data_sha256 = meta.data_sha256;
        Ok(ck)
    }

    /// The trained decoder as a prior.
    pub fn prior(&self, device: &Device) -> Result<GenPrior> {
        let (model, params) = match &self.config.net {
            GenNet::Vae(c) => (GenModel::Vae(*c), self.sets[0].1.clone()),
            GenNet::Gan(c) => (GenModel::Gan(*c), self.sets[0].1.clone()),
        };
        GenPrior::new(model, params, device.clone(), "training run")
    }

    /// Write the weights a prior needs (the whole VAE; the GAN's generator) with the last
    /// evaluation in the metadata.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        let (kind, config, prefix) = match &self.config.net {
            GenNet::Vae(c) => (VaeConfig::KIND, json(c)?, "vae/"),
            GenNet::Gan(c) => (GanConfig::KIND, json(c)?, "g/"),
        };
        let metrics = self
            .evals
            .last()
            .map(|e| e.metrics.clone())
            .unwrap_or_default();
        weights::save(
            path,
            &[(prefix, &self.sets[0].1)],
            &[
                ("posterior.kind", kind.to_string()),
                ("posterior.config", config),
                ("posterior.steps", self.step.to_string()),
                ("posterior.metrics", json(&metrics)?),
            ],
        )
    }
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Spec(e.to_string()))
}

/// Progress reports of [`train_generative`].
#[derive(Clone, Debug)]
pub enum GenEvent {
    /// A step finished.
    Step {
        /// Steps done.
        step: u64,
        /// Steps in total.
        total: u64,
        /// Named losses of this step (`neg_elbo`, `kl`; or `loss_d`, `loss_g`).
        losses: Vec<(&'static str, f64)>,
        /// Images per second over this process's steps.
        images_per_s: f64,
    },
    /// An evaluation.
    Evaluated(GenEval),
    /// Resumed from a checkpoint.
    Resumed {
        /// Steps already done.
        step: u64,
    },
}

fn batch_indices(rng: &mut impl rand::Rng, n: usize, batch: usize) -> Vec<usize> {
    (0..batch).map(|_| rng.random_range(0..n)).collect()
}

fn normals(rng: &mut impl rand::Rng, count: usize) -> Vec<f32> {
    (0..count)
        .map(|_| rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, rng))
        .collect()
}

/// One VAE step's loss and gradient: mean negative ELBO per image.
pub fn vae_gradient(
    c: &VaeConfig,
    params: &ParamSet,
    x: Vec<f32>,
    eps: Vec<f32>,
    device: &Device,
) -> Result<(f64, f64, ParamSet)> {
    let dev = device.clone().autodiff();
    let b = x.len() / c.pixels();
    let t = params.tensors(&dev, true);
    let (rec, kl) = c.neg_elbo(
        &t,
        matrix(x, b, c.pixels(), &dev),
        matrix(eps, b, c.latent, &dev),
    );
    let kl_mean = to_vec(kl.clone().mean().inner())?[0] as f64;
    let loss = (rec + kl).mean();
    let value = to_vec(loss.clone().inner())?[0] as f64;
    let grads = loss.backward();
    Ok((value, kl_mean, params.grads(&t, &grads)?))
}

/// One GAN step: a discriminator update on a real and a generated batch, then a generator
/// update on a fresh generated batch. Returns `(loss_d, loss_g)`.
#[allow(clippy::too_many_arguments)] // reason: one step's full state, passed explicitly
pub fn gan_step(
    c: &GanConfig,
    g: &mut ParamSet,
    adam_g: &mut Adam,
    d: &mut ParamSet,
    adam_d: &mut Adam,
    sn: &mut ParamSet,
    real: Vec<f32>,
    z1: Vec<f32>,
    z2: Vec<f32>,
    lr: f32,
    device: &Device,
) -> Result<(f64, f64)> {
    let dev = device.clone().autodiff();
    let b = real.len() / (c.height * c.width);
    let vs = c.power_iteration(d, sn);
    // Discriminator: softplus(-D(x)) + softplus(D(G(z))), generator held fixed.
    let gt = g.tensors(&dev, false);
    let dt = d.tensors(&dev, true);
    let fake = c.generate(&gt, matrix(z1, b, c.latent, &dev)).detach();
    let xr = Tensor::<4>::from_data(TensorData::new(real, [b, 1, c.height, c.width]), &dev);
    let lr_real = c.discriminate(&dt, sn, &vs, xr, &dev);
    let lr_fake = c.discriminate(&dt, sn, &vs, fake, &dev);
    let loss_d = (softplus(lr_real.neg(), 1.0) + softplus(lr_fake, 1.0)).mean();
    let value_d = to_vec(loss_d.clone().inner())?[0] as f64;
    let grads = loss_d.backward();
    let gd = d.grads(&dt, &grads)?;
    adam_d.step(d, &gd, lr);
    // Generator: softplus(-D(G(z))) with the updated discriminator held fixed.
    let gt = g.tensors(&dev, true);
    let dt = d.tensors(&dev, false);
    let fake = c.generate(&gt, matrix(z2, b, c.latent, &dev));
    let loss_g = softplus(c.discriminate(&dt, sn, &vs, fake, &dev).neg(), 1.0).mean();
    let value_g = to_vec(loss_g.clone().inner())?[0] as f64;
    let grads = loss_g.backward();
    let gg = g.grads(&gt, &grads)?;
    adam_g.step(g, &gg, lr);
    Ok((value_d, value_g))
}

/// Figures on held-out images (at most the first 500):
/// - `nn_mse`: mean over the images of the smallest per-pixel MSE to any of 2000 samples
///   `G(z)`, `z ~ N(0, I)` (seed 99) — how well the prior's samples cover unseen data;
/// - for the VAE also `neg_elbo` (nats per image, one posterior sample, seed 7) and
///   `recon_mse` (per-pixel MSE of `G(μ(x))`).
pub fn evaluate(
    ck: &GenCheckpoint,
    test: &ImageStack,
    device: &Device,
) -> Result<Vec<(String, f64)>> {
    let prior = ck.prior(device)?;
    let test = test.head(500);
    let p = test.pixels();
    let k = prior.latent_dim();
    let mut rng = posterior::rng(99);
    let mut best = vec![f64::INFINITY; test.n];
    for _ in 0..4 {
        let z = Array2::from_shape_vec((500, k), normals(&mut rng, 500 * k))
            .map_err(|e| Error::param("z", e.to_string()))?;
        let s = prior.decode(z.view())?;
        let s = s
            .as_slice()
            .ok_or_else(|| Error::param("samples", "not contiguous"))?;
        for (i, bi) in best.iter_mut().enumerate() {
            let x = &test.data[i * p..(i + 1) * p];
            for j in 0..500 {
                let g = &s[j * p..(j + 1) * p];
                let e: f32 = x.iter().zip(g).map(|(a, b)| (a - b) * (a - b)).sum();
                *bi = bi.min(e as f64 / p as f64);
            }
        }
    }
    let mut out = vec![(
        "nn_mse".to_string(),
        best.iter().sum::<f64>() / test.n as f64,
    )];
    if let GenNet::Vae(c) = &ck.config.net {
        let params = &ck.sets[0].1;
        let t = params.tensors(device, false);
        let mut rng = posterior::rng(7);
        let eps = normals(&mut rng, test.n * c.latent);
        let x = matrix(test.data.clone(), test.n, p, device);
        let (rec, kl) = c.neg_elbo(&t, x.clone(), matrix(eps, test.n, c.latent, device));
        let nelbo = to_vec((rec + kl).mean())?[0] as f64;
        let (mu, _) = c.encode(&t, x.clone());
        let mse = to_vec((c.decode(&t[DECODER_START..], mu) - x).square().mean())?[0] as f64;
        out.push(("neg_elbo".to_string(), nelbo));
        out.push(("recon_mse".to_string(), mse));
    }
    Ok(out)
}

/// What [`train_generative`] returns.
pub struct GenTrained {
    /// Final state (also written to the checkpoint).
    pub checkpoint: GenCheckpoint,
    /// Whether the run stopped on the interrupt flag.
    pub interrupted: bool,
}

/// Train (or with `resume` continue from `ckpt_path`) a VAE or DCGAN on `data`, evaluating on
/// `test` every `eval_every` steps and at the end.
#[allow(clippy::too_many_arguments)] // reason: a run's inputs, each documented
pub fn train_generative(
    config: &GenTrainConfig,
    data: &ImageStack,
    test: Option<&ImageStack>,
    device: &Device,
    ckpt_path: &Path,
    resume: bool,
    on_event: &mut dyn FnMut(&GenEvent),
    interrupt: Option<&Arc<AtomicBool>>,
) -> Result<GenTrained> {
    config.validate()?;
    let (h, w) = config.net.hw();
    for (what, s) in [("training", Some(data)), ("test", test)] {
        if let Some(s) = s
            && (s.height, s.width) != (h, w)
        {
            return Err(Error::Shape {
                context: format!("{what} images ({})", s.origin),
                expected: vec![h, w],
                got: vec![s.height, s.width],
            });
        }
    }
    let data_name = format!("{} ({} images)", data.origin, data.n);
    let mut ck = if resume {
        let ck = GenCheckpoint::load(ckpt_path)?;
        let mut same = ck.config.clone();
        same.steps = config.steps;
        if &same != config {
            return Err(Error::param(
                "resume",
                format!(
                    "the checkpoint was made with other settings ({:?}); only the step count may change",
                    ck.config
                ),
            ));
        }
        if config.steps < ck.step {
            return Err(Error::param(
                "steps",
                format!("the checkpoint has already done {} steps", ck.step),
            ));
        }
        if ck.data != data_name {
            return Err(Error::param(
                "resume",
                format!("the checkpoint trained on {}, not {data_name}", ck.data),
            ));
        }
        let fingerprint = data.fingerprint();
        if let Some(h) = ck.data_sha256.as_ref().filter(|h| **h != fingerprint) {
            return Err(Error::param(
                "resume",
                format!(
                    "{data_name} has the checkpoint's name but other content \
                     (sha256 {fingerprint}, the checkpoint's {h})"
                ),
            ));
        }
        on_event(&GenEvent::Resumed { step: ck.step });
        let mut ck = ck;
        ck.config.steps = config.steps;
        ck.data_sha256 = Some(fingerprint);
        ck
    } else {
        let mut ck = GenCheckpoint::fresh(config, data_name)?;
        ck.data_sha256 = Some(data.fingerprint());
        ck
    };
    let start = Instant::now();
    let first = ck.step;
    let mut interrupted = false;
    while ck.step < config.steps {
        if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            interrupted = true;
            break;
        }
        let k = ck.step;
        let mut rng = step_rng(config.seed, k);
        let idx = batch_indices(&mut rng, data.n, config.batch);
        let x = data.gather(&idx);
        let losses = match config.net {
            GenNet::Vae(c) => {
                let eps = normals(&mut rng, config.batch * c.latent);
                let (loss, kl, grads) = vae_gradient(&c, &ck.sets[0].1, x, eps, device)?;
                if !loss.is_finite() {
                    return Err(Error::Diverged {
                        solver: "vae training".into(),
                        iteration: k as usize + 1,
                        reason: format!("the loss is {loss}; lower --lr"),
                    });
                }
                let (_, p, a) = &mut ck.sets[0];
                a.step(p, &grads, config.lr);
                vec![("neg_elbo", loss), ("kl", kl)]
            }
            GenNet::Gan(c) => {
                let z1 = normals(&mut rng, config.batch * c.latent);
                let z2 = normals(&mut rng, config.batch * c.latent);
                let (gs, ds) = ck.sets.split_at_mut(1);
                let (_, g, ag) = &mut gs[0];
                let (_, d, ad) = &mut ds[0];
                let sn = &mut ck.state[0].1;
                let (ld, lg) = gan_step(&c, g, ag, d, ad, sn, x, z1, z2, config.lr, device)?;
                if !(ld.is_finite() && lg.is_finite()) {
                    return Err(Error::Diverged {
                        solver: "gan training".into(),
                        iteration: k as usize + 1,
                        reason: format!("losses {ld}, {lg}; lower --lr"),
                    });
                }
                vec![("loss_d", ld), ("loss_g", lg)]
            }
        };
        ck.step += 1;
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        on_event(&GenEvent::Step {
            step: ck.step,
            total: config.steps,
            losses,
            images_per_s: ((ck.step - first) as usize * config.batch) as f64 / secs,
        });
        let last = ck.step == config.steps;
        if let Some(t) = test
            && (last || (config.eval_every > 0 && ck.step % config.eval_every == 0))
        {
            let e = GenEval {
                step: ck.step,
                metrics: evaluate(&ck, t, device)?,
            };
            on_event(&GenEvent::Evaluated(e.clone()));
            ck.evals.push(e);
        }
        if last || ck.step % config.checkpoint_every == 0 {
            ck.save(ckpt_path)?;
        }
    }
    if interrupted {
        ck.save(ckpt_path)?;
    }
    Ok(GenTrained {
        checkpoint: ck,
        interrupted,
    })
}
