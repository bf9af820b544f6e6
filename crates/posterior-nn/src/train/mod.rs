//! Training the noise-conditioned denoiser.
//!
//! [`train_denoiser`] runs Adam on the mean squared error between the network's output and
//! the clean patch, for noisy patches drawn by [`data::sample_batch`] with noise levels
//! uniform in `[0, σ_max]`. Every random choice of step `k` comes from a generator seeded
//! with `(seed, k)`, and the optimizer state is checkpointed with the weights, so a run
//! killed and resumed from its last checkpoint produces bit for bit the weights of an
//! uninterrupted run (on the same machine and thread count). Validation denoises held-out
//! images at fixed noise levels with a fixed noise seed and reports the mean PSNR.

pub mod adam;
pub mod data;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn_tensor::{Device, Tensor, TensorData};
use posterior::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::net::DenoiserConfig;
use crate::params::ParamSet;
use crate::weights::{self, WeightFile};
use adam::{Adam, cosine_lr};
use data::{ImageSet, sample_batch};

/// Training hyper-parameters (all recorded in checkpoints and weight files).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network.
    pub net: DenoiserConfig,
    /// Optimizer steps in total.
    pub steps: u64,
    /// Patches per batch.
    pub batch: usize,
    /// Patch side (even).
    pub patch: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Final learning rate as a fraction of the peak (cosine decay).
    pub lr_floor: f32,
    /// Linear warm-up steps.
    pub warmup: u64,
    /// Largest training noise level (images in `[0, 1]`).
    pub sigma_max: f32,
    /// Seed of the initial weights and of every batch.
    pub seed: u64,
    /// Steps between validations (0: only at the end).
    pub validate_every: u64,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Step at which the current learning-rate phase (warm-up, then cosine decay to
    /// `steps`) began: 0, or the step where a resumed run restarted it ([`Self::restart_lr`]).
    #[serde(default)]
    pub phase_start: u64,
    /// Scales the training images are used at ([`ImageSet::at_scales`]; 1: as they are).
    /// A resumed run may change them, and the batch and patch size, only when it starts a
    /// new learning-rate phase.
    #[serde(default = "native_scale")]
    pub scales: Vec<f32>,
    /// Generated dead-leaves images ([`data::dead_leaves_set`], 256x256, seeded from
    /// `seed`) added to the training images (after scaling; 0: none). Like the scales, a
    /// resumed run may change it only with a new learning-rate phase.
    #[serde(default)]
    pub dead_leaves: usize,
    /// Generated phantoms, random ellipses and random heads ([`data::ellipses_set`],
    /// 256x256, seeded from `seed`), added after the dead-leaves images (0: none). Like the
    /// scales, a resumed run may change it only with a new learning-rate phase.
    #[serde(default)]
    pub ellipses: usize,
    /// Generated phantoms drawn without anti-aliasing ([`data::aliased_ellipses_set`]:
    /// hard staircase edges), added after the other phantoms (0: none). Like the scales, a
    /// resumed run may change it only with a new learning-rate phase.
    #[serde(default)]
    pub aliased_ellipses: usize,
    /// Generated phantoms drawn without anti-aliasing on a finer grid and resized
    /// ([`data::resampled_ellipses_set`]: softened staircase edges), added after the
    /// aliased ones (0: none). Like the scales, a resumed run may change it only with a
    /// new learning-rate phase.
    #[serde(default)]
    pub resampled_ellipses: usize,
    /// The training loss (runs that did not record one used the MSE). Fixed for a run.
    #[serde(default)]
    pub loss: Loss,
    /// Where the run's initial weights came from when they were not drawn from `seed`
    /// ([`Checkpoint::start`] with trained weights: fine-tuning, or a grown UNet): the
    /// file's name, SHA-256, network and steps, in words. Provenance only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    /// On resume only: start a new phase at the checkpoint's step with this peak
    /// learning rate (warm-up and cosine decay over the remaining steps) instead of
    /// stretching the original schedule. Not stored: the checkpoint records the new `lr`
    /// and `phase_start`. When both this and `steps` equal the checkpoint's phase (the
    /// interrupted command run again), the phase continues unchanged.
    #[serde(skip)]
    pub restart_lr: Option<f32>,
}

/// The training loss between the network's output and the clean patch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Mean squared error (FFDNet, DnCNN).
    #[default]
    Mse,
    /// Mean absolute error (DRUNet). Its gradient does not shrink with the error, so
    /// low-noise patches, whose errors are small, weigh more than under the MSE.
    L1,
}

impl Loss {
    /// `mse` or `l1`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::L1 => "l1",
        }
    }

    /// Parse `mse` or `l1`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "mse" => Ok(Loss::Mse),
            "l1" => Ok(Loss::L1),
            other => Err(Error::param(
                "loss",
                format!("unknown loss `{other}`; valid: mse, l1"),
            )),
        }
    }
}

/// The most generated dead-leaves images a run may ask for (each is 256 KiB in memory).
pub const MAX_DEAD_LEAVES: usize = 4096;

/// The most generated phantoms a run may ask for (each is 256 KiB in memory).
pub const MAX_ELLIPSES: usize = 4096;

/// The scale list of runs that did not record one: the images as they are.
fn native_scale() -> Vec<f32> {
    vec![1.0]
}

impl Default for TrainConfig {
    /// The settings the shipped gray denoiser's run started with (its later phases changed
    /// the peak learning rate, the scales and, for one phase, the patch and batch; its
    /// manifest entry lists each command).
    fn default() -> Self {
        Self {
            net: DenoiserConfig::default(),
            steps: 1500,
            batch: 32,
            patch: 48,
            lr: 1e-3,
            lr_floor: 0.01,
            warmup: 200,
            sigma_max: 60.0 / 255.0,
            seed: 0,
            validate_every: 500,
            checkpoint_every: 100,
            phase_start: 0,
            scales: native_scale(),
            dead_leaves: 0,
            ellipses: 0,
            aliased_ellipses: 0,
            resampled_ellipses: 0,
            loss: Loss::Mse,
            init: None,
            restart_lr: None,
        }
    }
}

impl TrainConfig {
    /// The patch source and batch shape, which a new learning-rate phase may change:
    /// `patches PxP, batch B, scales [..], D dead-leaves images, E ellipse phantoms`, then
    /// `, A aliased phantoms` and `, R resampled phantoms` when there are some.
    pub fn data_settings(&self) -> String {
        let mut more = String::new();
        if self.aliased_ellipses > 0 {
            more += &format!(", {} aliased phantoms", self.aliased_ellipses);
        }
        if self.resampled_ellipses > 0 {
            more += &format!(", {} resampled phantoms", self.resampled_ellipses);
        }
        format!(
            "patches {p}x{p}, batch {}, scales {:?}, {} dead-leaves images, {} ellipse phantoms{more}",
            self.batch,
            self.scales,
            self.dead_leaves,
            self.ellipses,
            p = self.patch
        )
    }

    /// The images patches are drawn from: `data` at the configured scales, then the
    /// generated dead-leaves images, then the generated ellipse phantoms: anti-aliased,
    /// aliased, then resampled.
    pub fn patch_source(&self, data: &ImageSet) -> Result<ImageSet> {
        let mut set = data.at_scales(&self.scales)?;
        type Generate = fn(usize, u64) -> Result<ImageSet>;
        let generated: [(usize, Generate); 4] = [
            (self.dead_leaves, data::dead_leaves_set),
            (self.ellipses, data::ellipses_set),
            (self.aliased_ellipses, data::aliased_ellipses_set),
            (self.resampled_ellipses, data::resampled_ellipses_set),
        ];
        for (count, generate) in generated {
            if count > 0 {
                let extra = generate(count, self.seed)?;
                set.names.extend(extra.names);
                set.images.extend(extra.images);
            }
        }
        Ok(set)
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        self.net.validate()?;
        data::check_scales(&self.scales)?;
        for (name, count, max) in [
            ("dead-leaves", self.dead_leaves, MAX_DEAD_LEAVES),
            ("ellipses", self.ellipses, MAX_ELLIPSES),
            ("aliased-ellipses", self.aliased_ellipses, MAX_ELLIPSES),
            ("resampled-ellipses", self.resampled_ellipses, MAX_ELLIPSES),
        ] {
            if count > max {
                return Err(Error::param(
                    name,
                    format!("at most {max} images (1 GiB), got {count}"),
                ));
            }
        }
        let m = self.net.side_multiple();
        if self.patch < 4 || self.patch % m != 0 {
            return Err(Error::param(
                "patch",
                format!(
                    "must be a multiple of {m} (the network's side multiple) and >= 4, got {}",
                    self.patch
                ),
            ));
        }
        if self.batch == 0 || self.steps == 0 || self.checkpoint_every == 0 {
            return Err(Error::param(
                "training",
                "batch, steps and checkpoint interval must be >= 1",
            ));
        }
        if let Some(v) = self.restart_lr
            && !(v.is_finite() && v > 0.0)
        {
            return Err(Error::param(
                "lr",
                format!("must be finite and > 0, got {v}"),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param(
                "lr",
                format!("must be finite and > 0, got {}", self.lr),
            ));
        }
        if !(0.0..=1.0).contains(&self.lr_floor) {
            return Err(Error::param(
                "lr_floor",
                format!("must be in [0, 1], got {}", self.lr_floor),
            ));
        }
        if !(self.sigma_max.is_finite() && self.sigma_max > 0.0) {
            return Err(Error::param(
                "sigma-max",
                format!("must be finite and > 0, got {}", self.sigma_max),
            ));
        }
        Ok(())
    }
}

/// One line of the training history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Steps done.
    pub step: u64,
    /// Mean training loss since the previous entry (MSE, or the mean absolute error with
    /// [`Loss::L1`]).
    pub loss: f64,
    /// Learning rate of the last step.
    pub lr: f32,
    /// Validation PSNR per noise level `(σ·255, dB)`, when validated at this step.
    pub validation: Vec<(f32, f64)>,
}

/// Everything needed to continue training exactly.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The settings the run was started with.
    pub config: TrainConfig,
    /// Steps done.
    pub step: u64,
    /// Current weights.
    pub params: ParamSet,
    /// Optimizer state.
    pub adam: Adam,
    /// History so far.
    pub history: Vec<HistoryEntry>,
    /// Training image names.
    pub data: Vec<String>,
    /// Content fingerprint of the training images ([`ImageSet::fingerprint`]); `None` in
    /// checkpoints written before it was recorded (then only the names are checked, and
    /// the resumed run records it).
    pub data_sha256: Option<String>,
}

/// Architecture name of checkpoints (of either architecture; the configuration they record
/// tells which).
pub const CHECKPOINT_KIND: &str = "checkpoint:ffdnet-residual";

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    config: TrainConfig,
    step: u64,
    adam_t: u64,
    history: Vec<HistoryEntry>,
    data: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_sha256: Option<String>,
}

impl Checkpoint {
    /// The state of a run before its first step, with initial weights `params` (which
    /// must have `config.net`'s layout; a fresh run draws them with
    /// [`DenoiserConfig::init`] from `config.seed`, a fine-tuning run takes trained ones,
    /// see [`DenoiserConfig::grown_from`]) and a fresh optimizer. Saved, it is resumed by
    /// [`train_denoiser`] like any checkpoint.
    pub fn start(config: &TrainConfig, data: &ImageSet, params: ParamSet) -> Result<Self> {
        config.validate()?;
        config
            .net
            .init(&mut posterior::rng(0))?
            .check_layout(&params, "the initial weights")?;
        if !params.all_finite() {
            return Err(Error::param(
                "init",
                "the initial weights hold non-finite values",
            ));
        }
        Ok(Self {
            config: config.clone(),
            step: 0,
            adam: Adam::new(&params),
            params,
            history: Vec::new(),
            data: data.names.clone(),
            data_sha256: Some(data.fingerprint()),
        })
    }

    /// Write atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let meta = CheckpointMeta {
            config: self.config.clone(),
            step: self.step,
            adam_t: self.adam.t,
            history: self.history.clone(),
            data: self.data.clone(),
            data_sha256: self.data_sha256.clone(),
        };
        let json = serde_json::to_string(&meta).map_err(|e| Error::Spec(e.to_string()))?;
        let net =
            serde_json::to_string(&self.config.net).map_err(|e| Error::Spec(e.to_string()))?;
        weights::save(
            path,
            &[
                ("param/", &self.params),
                ("adam.m/", &self.adam.m),
                ("adam.v/", &self.adam.v),
            ],
            &[
                ("posterior.kind", CHECKPOINT_KIND.to_string()),
                ("posterior.config", net),
                ("posterior.train", json),
            ],
        )
    }

    /// Read a checkpoint written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let f = WeightFile::read(path)?;
        let (net, meta): (DenoiserConfig, CheckpointMeta) =
            f.training_state(CHECKPOINT_KIND, |m: &CheckpointMeta| &m.config.net)?;
        let layout = net.init(&mut posterior::rng(0))?;
        let params = f.params("param/", &layout)?;
        let mut adam = Adam::new(&layout);
        adam.m = f.params("adam.m/", &layout)?;
        adam.v = f.params("adam.v/", &layout)?;
        adam.t = meta.adam_t;
        Ok(Self {
            config: meta.config,
            step: meta.step,
            params,
            adam,
            history: meta.history,
            data: meta.data,
            data_sha256: meta.data_sha256,
        })
    }
}

/// Progress reports of [`train_denoiser`].
#[derive(Clone, Debug)]
pub enum Event {
    /// A step finished.
    Step {
        /// Steps done.
        step: u64,
        /// Steps in total.
        total: u64,
        /// This step's loss (MSE, or mean absolute error with [`Loss::L1`]).
        loss: f64,
        /// Its learning rate.
        lr: f32,
        /// Patches per second over the run so far (this process).
        patches_per_s: f64,
    },
    /// Validation figures.
    Validated {
        /// Steps done.
        step: u64,
        /// Mean PSNR per noise level `(σ·255, dB)`.
        psnr: Vec<(f32, f64)>,
    },
    /// A checkpoint was written.
    Checkpointed {
        /// Steps done.
        step: u64,
        /// Where.
        path: PathBuf,
    },
    /// Training resumed from a checkpoint.
    Resumed {
        /// Steps already done.
        step: u64,
    },
}

/// Held-out images and the noise levels to validate at.
#[derive(Clone, Debug)]
pub struct Validation {
    /// The images.
    pub images: ImageSet,
    /// Noise levels on the 0–255 scale.
    pub sigmas255: Vec<f32>,
    /// Seed of the validation noise.
    pub seed: u64,
}

impl Validation {
    /// Mean PSNR (dB, peak 1) over the images at each noise level.
    pub fn run(
        &self,
        net: &DenoiserConfig,
        params: &ParamSet,
        device: &Device,
    ) -> Result<Vec<(f32, f64)>> {
        let den = crate::learned::LearnedDenoiser::new(
            *net,
            params.clone(),
            device.clone(),
            "validation",
        )?;
        let mut out = Vec::new();
        for (k, &s) in self.sigmas255.iter().enumerate() {
            let sigma = s / 255.0;
            let mut sum = 0.0;
            for (i, im) in self.images.images.iter().enumerate() {
                let mut rng = posterior::rng(self.seed ^ ((k as u64) << 32) ^ i as u64);
                let noisy = im.mapv(|v| v + sigma * rng_normal(&mut rng));
                let x = den.run(noisy.view().into_dyn(), sigma)?;
                sum += posterior::metrics::psnr(x.view(), im.view().into_dyn(), 1.0);
            }
            let mean = sum / self.images.images.len() as f64;
            // (a non-finite figure would also make the checkpoint's JSON history unreadable)
            if !mean.is_finite() {
                return Err(Error::Diverged {
                    solver: "denoiser validation".into(),
                    iteration: 0,
                    reason: format!(
                        "mean PSNR {mean} at sigma {s}/255; resume from the last checkpoint with a lower --lr"
                    ),
                });
            }
            out.push((s, mean));
        }
        Ok(out)
    }
}

fn rng_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f32 {
    rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, rng)
}

/// The generator of step `k`'s random draws: splitmix64 of `(seed, k)`.
pub fn step_rng(seed: u64, k: u64) -> rand::rngs::Xoshiro256PlusPlus {
    let mut z = seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    posterior::rng(z ^ (z >> 31))
}

/// Loss and gradients of one batch: `mean((D(y, σ) − x)²)`.
pub fn batch_gradient(
    net: &DenoiserConfig,
    params: &ParamSet,
    batch: &data::Batch,
    device: &Device,
) -> Result<(f64, ParamSet)> {
    batch_gradient_with(net, Loss::Mse, params, batch, device)
}

/// Loss and gradients of one batch under `loss`: `mean((D(y, σ) − x)²)` or
/// `mean(|D(y, σ) − x|)`.
pub fn batch_gradient_with(
    net: &DenoiserConfig,
    loss: Loss,
    params: &ParamSet,
    batch: &data::Batch,
    device: &Device,
) -> Result<(f64, ParamSet)> {
    let dev = device.clone().autodiff();
    let p = batch.patch;
    let shape = [batch.n, 1, p, p];
    let noisy = Tensor::<4>::from_data(TensorData::new(batch.noisy.clone(), shape), &dev);
    let clean = Tensor::<4>::from_data(TensorData::new(batch.clean.clone(), shape), &dev);
    let sigma = Tensor::<1>::from_data(TensorData::new(batch.sigma.clone(), [batch.n]), &dev);
    let tensors = params.tensors(&dev, true);
    let out = net.forward(&tensors, noisy, sigma);
    let loss = match loss {
        Loss::Mse => (out - clean).square().mean(),
        Loss::L1 => (out - clean).abs().mean(),
    };
    let grads = loss.backward();
    let value = crate::params::to_vec(loss.inner())?[0] as f64;
    let g = params.grads(&tensors, &grads)?;
    Ok((value, g))
}

/// What a finished (or interrupted) run returns.
#[derive(Clone, Debug)]
pub struct Trained {
    /// Final state (also written to the checkpoint).
    pub checkpoint: Checkpoint,
    /// Whether the run stopped early on the interrupt flag.
    pub interrupted: bool,
}

/// Train (or, with `resume`, continue from `checkpoint_path`) the denoiser.
///
/// Checkpoints are written atomically to `checkpoint_path` every
/// `config.checkpoint_every` steps, at the end and when `interrupt` is raised. With
/// `resume`, the checkpoint's settings are used except `steps`, which may be changed (not
/// below the steps done) to train longer or shorter (the cosine schedule then stretches or
/// shrinks, so the result differs from a run started with that count), and except the
/// peak learning rate when `config.restart_lr` is set: training then continues with a
/// new warm-up and cosine phase from the checkpoint's step (a fine-tuning phase at a
/// lower rate, without the jump a stretched schedule makes), which may also change
/// `config.scales` (the images' scales, [`ImageSet::at_scales`]), `config.dead_leaves`,
/// `config.ellipses`, `patch` and `batch`.
#[allow(clippy::too_many_arguments)] // reason: the inputs of one training run, each distinct and required
pub fn train_denoiser(
    config: &TrainConfig,
    data: &ImageSet,
    validation: Option<&Validation>,
    device: &Device,
    checkpoint_path: &Path,
    resume: bool,
    on_event: &mut dyn FnMut(&Event),
    interrupt: Option<&AtomicBool>,
) -> Result<Trained> {
    config.validate()?;
    let mut ck = if resume {
        let mut ck = Checkpoint::load(checkpoint_path)?;
        ck.config.validate()?;
        if ck.data != data.names {
            return Err(Error::param(
                "data",
                format!(
                    "the checkpoint was trained on {:?}, this folder holds {:?}",
                    ck.data, data.names
                ),
            ));
        }
        let fingerprint = data.fingerprint();
        match &ck.data_sha256 {
            Some(h) if *h != fingerprint => {
                return Err(Error::param(
                    "data",
                    format!(
                        "the images {:?} have the checkpoint's names but other content \
                         (sha256 {fingerprint}, the checkpoint's {h})",
                        data.names
                    ),
                ));
            }
            _ => ck.data_sha256 = Some(fingerprint),
        }
        if config.steps < ck.step {
            return Err(Error::param(
                "steps",
                format!("the checkpoint has already done {} steps", ck.step),
            ));
        }
        // Rerunning an interrupted command (the same --steps and --lr as the checkpoint's
        // phase) continues that phase exactly instead of starting another one.
        let same_phase = config.steps == ck.config.steps
            && config.restart_lr == Some(ck.config.lr)
            && config.data_settings() == ck.config.data_settings();
        ck.config.steps = config.steps;
        if let Some(v) = config.restart_lr.filter(|_| !same_phase) {
            if ck.step == config.steps {
                return Err(Error::param(
                    "steps",
                    format!(
                        "a new learning-rate phase needs steps beyond the checkpoint's {}",
                        ck.step
                    ),
                ));
            }
            ck.config.lr = v;
            ck.config.phase_start = ck.step;
            ck.config.scales = config.scales.clone();
            ck.config.dead_leaves = config.dead_leaves;
            ck.config.ellipses = config.ellipses;
            ck.config.aliased_ellipses = config.aliased_ellipses;
            ck.config.resampled_ellipses = config.resampled_ellipses;
            ck.config.patch = config.patch;
            ck.config.batch = config.batch;
        } else if config.data_settings() != ck.config.data_settings() {
            return Err(Error::param(
                "resume",
                format!(
                    "the run uses {}; {} needs a new learning-rate phase",
                    ck.config.data_settings(),
                    config.data_settings()
                ),
            ));
        }
        on_event(&Event::Resumed { step: ck.step });
        ck
    } else {
        Checkpoint::start(
            config,
            data,
            config.net.init(&mut posterior::rng(config.seed))?,
        )?
    };
    let cfg = ck.config.clone();
    let data = &cfg.patch_source(data)?;
    let start = Instant::now();
    let first = ck.step;
    let mut loss_sum = 0.0;
    let mut loss_n = 0u64;
    let mut interrupted = false;
    while ck.step < cfg.steps {
        let k = ck.step;
        let mut rng = step_rng(cfg.seed, k);
        let batch = sample_batch(data, cfg.batch, cfg.patch, cfg.sigma_max, &mut rng)?;
        let (loss, grads) = batch_gradient_with(&cfg.net, cfg.loss, &ck.params, &batch, device)?;
        if !loss.is_finite() || !grads.all_finite() {
            return Err(Error::Diverged {
                solver: "denoiser training".into(),
                iteration: k as usize,
                reason: format!("loss {loss}; resume from the last checkpoint with a lower --lr"),
            });
        }
        let lr = cosine_lr(
            k - cfg.phase_start,
            cfg.steps - cfg.phase_start,
            cfg.lr,
            cfg.warmup,
            cfg.lr_floor,
        );
        ck.adam.step(&mut ck.params, &grads, lr);
        ck.step += 1;
        loss_sum += loss;
        loss_n += 1;
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        on_event(&Event::Step {
            step: ck.step,
            total: cfg.steps,
            loss,
            lr,
            patches_per_s: ((ck.step - first) as usize * cfg.batch) as f64 / secs,
        });
        let last = ck.step == cfg.steps;
        let validate_now = last || (cfg.validate_every > 0 && ck.step % cfg.validate_every == 0);
        let mut entry = None;
        if validate_now || ck.step % cfg.checkpoint_every == 0 {
            let mut e = HistoryEntry {
                step: ck.step,
                loss: loss_sum / loss_n.max(1) as f64,
                lr,
                validation: Vec::new(),
            };
            loss_sum = 0.0;
            loss_n = 0;
            if validate_now && let Some(v) = validation {
                e.validation = v.run(&cfg.net, &ck.params, device)?;
                on_event(&Event::Validated {
                    step: ck.step,
                    psnr: e.validation.clone(),
                });
            }
            entry = Some(e);
        }
        if let Some(e) = entry {
            ck.history.push(e);
        }
        let stop = interrupt.is_some_and(|f| f.load(Ordering::Relaxed));
        if last || stop || ck.step % cfg.checkpoint_every == 0 {
            ck.save(checkpoint_path)?;
            on_event(&Event::Checkpointed {
                step: ck.step,
                path: checkpoint_path.to_path_buf(),
            });
        }
        if stop && !last {
            interrupted = true;
            break;
        }
    }
    // A run resumed at its last step (to export weights) validates once, so the weight file
    // and its manifest entry always carry the final figures.
    let validated = ck
        .history
        .last()
        .is_some_and(|h| h.step == ck.step && !h.validation.is_empty());
    if !interrupted
        && !validated
        && let Some(v) = validation
    {
        let psnr = v.run(&cfg.net, &ck.params, device)?;
        on_event(&Event::Validated {
            step: ck.step,
            psnr: psnr.clone(),
        });
        match ck.history.last_mut() {
            Some(h) if h.step == ck.step => h.validation = psnr,
            _ => ck.history.push(HistoryEntry {
                step: ck.step,
                loss: f64::NAN,
                lr: 0.0,
                validation: psnr,
            }),
        }
    }
    Ok(Trained {
        checkpoint: ck,
        interrupted,
    })
}

/// Write trained weights (no optimizer state) with their provenance in the header.
pub fn save_weights(path: &Path, ck: &Checkpoint) -> Result<()> {
    let net = serde_json::to_string(&ck.config.net).map_err(|e| Error::Spec(e.to_string()))?;
    let train = serde_json::to_string(&ck.config).map_err(|e| Error::Spec(e.to_string()))?;
    let last_val = ck
        .history
        .iter()
        .rev()
        .find(|h| !h.validation.is_empty())
        .map(|h| h.validation.clone())
        .unwrap_or_default();
    weights::save(
        path,
        &[("", &ck.params)],
        &[
            ("posterior.kind", ck.config.net.kind().to_string()),
            ("posterior.config", net),
            ("posterior.train", train),
            ("posterior.steps", ck.step.to_string()),
            ("posterior.data", ck.data.join(",")),
            (
                "posterior.validation",
                serde_json::to_string(&last_val).map_err(|e| Error::Spec(e.to_string()))?,
            ),
        ],
    )
}
