//! `posterior train denoiser`: train the noise-conditioned denoiser and write its weights.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use posterior::{Error, Result};
use posterior_nn::net::{DenoiserConfig, OutputScale};
use posterior_nn::train::data::ImageSet;
use posterior_nn::train::{self, Event, Loss, TrainConfig, Validation};

/// What to train.
#[derive(Subcommand, Debug)]
pub enum TrainWhat {
    /// The noise-level-conditioned denoiser (`learned`), from a folder of images.
    Denoiser(Box<DenoiserArgs>),
    /// A VAE (CSGM's MNIST model: 784-500-500-20) on a stack of 28x28 images.
    Vae(GenArgs),
    /// A DCGAN (spectrally normalised discriminator) on a stack of 28x28 images.
    Gan(GenArgs),
}

/// Flags of `train vae` and `train gan`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Training images: a .npy stack [N, H, W] (uint8 or float in [0, 1]) or an MNIST IDX
    /// file (*-idx3-ubyte[.gz], e.g. /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
    /// from Debian's dataset-fashion-mnist).
    #[arg(long)]
    data: PathBuf,
    /// Held-out images for the evaluations (same formats); none: no evaluation.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Optimizer steps in total (with --resume: the new total); default 10000 (vae), 5000 (gan).
    #[arg(long)]
    steps: Option<u64>,
    /// Output weight file (.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Checkpoint file (default: the output path with `.ckpt` appended).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint: same data; the checkpoint's settings are kept (giving
    /// a flag with another value is an error); only --steps may grow.
    #[arg(long)]
    resume: bool,
    /// Seed of the initial weights and of every batch [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Images per batch; default 100 (vae), 64 (gan).
    #[arg(long)]
    batch: Option<usize>,
    /// Adam step size; default 1e-3 (vae), 2e-4 (gan).
    #[arg(long)]
    lr: Option<f32>,
    /// Latent dimension [default: 20].
    #[arg(long)]
    latent: Option<usize>,
    /// VAE hidden units (vae only) [default: 500].
    #[arg(long)]
    hidden: Option<usize>,
    /// Base feature maps (gan only) [default: 32].
    #[arg(long)]
    features: Option<usize>,
    /// Steps between evaluations (0: at the end only).
    #[arg(long)]
    eval_every: Option<u64>,
    /// Device: cpu, or vulkan in a build with the gpu-vulkan feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Flags of `train denoiser`.
#[derive(Args, Debug)]
pub struct DenoiserArgs {
    /// Folder of training images (.png; colour is reduced to gray).
    #[arg(long)]
    data: PathBuf,
    /// Folder of held-out validation images (.png); default: the bundled camera, coins,
    /// mri_brain and shepp_logan (256x256), none of which the shipped weights trained on.
    #[arg(long)]
    val: Option<PathBuf>,
    /// Optimizer steps in total (with --resume: the new total).
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    steps: u64,
    /// Output weight file (.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Checkpoint file (default: the output path with `.ckpt` appended).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint: same data; the checkpoint's network, batch, patch,
    /// scales, dead leaves, seed, noise range and intervals are kept (giving one of those
    /// flags with another value is an error); --steps sets the new total and --lr may start
    /// a new phase, which may also change --batch, --patch, --scales, --dead-leaves,
    /// --ellipses, --aliased-ellipses and --resampled-ellipses.
    #[arg(long)]
    resume: bool,
    /// Start from trained weights (a weight file, or net=plain / net=unet / net=phantom for a shipped
    /// network) instead of random ones, with a fresh optimizer and learning-rate
    /// schedule: fine-tuning, on other data or with other settings. The network flags
    /// default to the file's; a UNet may be grown with a larger --depth (each new
    /// residual block starts as the identity, so the grown network starts where the
    /// file's ends). Not with --resume.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Seed of the initial weights and of every batch [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Patches per batch [default: 32].
    #[arg(long)]
    batch: Option<usize>,
    /// Patch side (even) [default: 48].
    #[arg(long)]
    patch: Option<usize>,
    /// Peak learning rate (cosine decay to 1% of it after a linear warm-up) [default:
    /// 0.001]. With --resume: start a new warm-up and cosine phase from the checkpoint's
    /// step with this peak (without it, the checkpoint's schedule is stretched to --steps);
    /// an interrupted phase resumed with its own --steps and --lr continues unchanged.
    #[arg(long)]
    lr: Option<f32>,
    /// Largest training noise level on the 0-255 scale [default: 60].
    #[arg(long)]
    sigma_max: Option<f32>,
    /// Convolution layers; with --levels 2 or more, residual blocks per level [default: 12].
    #[arg(long)]
    depth: Option<usize>,
    /// Feature maps per hidden layer (with --levels 2 or more: at the first level, doubling
    /// at each further one) [default: 48].
    #[arg(long)]
    features: Option<usize>,
    /// Training loss: mse, or l1 (mean absolute error, as DRUNet; weighs low-noise patches
    /// more); fixed for a run [default: mse].
    #[arg(long)]
    loss: Option<String>,
    /// Resolutions: 1 for the plain convolution stack (FFDNet), 2 to 6 for a UNet
    /// (DRUNet-style residual blocks, 2x2 strided down- and upsampling, additive skips);
    /// patch sides must then be multiples of 2^levels [default: 1].
    #[arg(long)]
    levels: Option<usize>,
    /// Factor from the network's output to the predicted noise: one (the noise itself),
    /// sigma (the network predicts noise / σ, so the correction vanishes with σ), or
    /// knee:K (σ/√(σ² + K²), K on the 0-255 scale: like sigma below K, like one above);
    /// fixed for a run [default: one].
    #[arg(long)]
    output_scale: Option<String>,
    /// Steps between validations (0: at the end only) [default: 500].
    #[arg(long)]
    validate_every: Option<u64>,
    /// Steps between checkpoints [default: 100].
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Scales in (0, 1] to use the training images at, comma-separated: each image is
    /// also downscaled by area averaging to each one (DnCNN's multi-scale patches); with
    /// --resume, other scales than the checkpoint's need --lr (a new phase) [default: 1]
    #[arg(long, value_delimiter = ',')]
    scales: Option<Vec<f32>>,
    /// Also train on this many generated 256x256 dead-leaves images (flat discs of random
    /// gray level and power-law radius occluding one another: sharp edges and flat regions
    /// at every scale); with --resume, another count than the checkpoint's needs --lr (a
    /// new phase) [default: 0]
    #[arg(long)]
    dead_leaves: Option<usize>,
    /// Also train on this many generated 256x256 phantoms, alternately random ellipses
    /// (4 to 12 of random signed intensity, summed and clipped) and random head-like
    /// phantoms (a thin bright shell around flat low-contrast ellipses): flat regions with
    /// smooth edges, as CT and MRI phantoms have; with --resume, another count than the
    /// checkpoint's needs --lr (a new phase) [default: 0]
    #[arg(long)]
    ellipses: Option<usize>,
    /// Also train on this many generated phantoms like --ellipses' (other shapes) drawn
    /// with one sample per pixel, without anti-aliasing: hard staircase edges, as a phantom
    /// rasterized on its grid has; with --resume, another count than the checkpoint's needs
    /// --lr (a new phase) [default: 0]
    #[arg(long)]
    aliased_ellipses: Option<usize>,
    /// Also train on this many generated phantoms like --ellipses' (other shapes again),
    /// each drawn with one sample per pixel on a grid 1.25 to 2.25 times finer and resized
    /// to 256x256 with a Gaussian against aliasing and bilinear interpolation (as common
    /// image libraries resize): staircase edges softened unevenly, as a phantom rasterized
    /// on one grid and resized to another has; with --resume, another count than the
    /// checkpoint's needs --lr (a new phase) [default: 0]
    #[arg(long)]
    resampled_ellipses: Option<usize>,
    /// Device: cpu, or vulkan in a build with the gpu-vulkan feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Hide the progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Run `train ...`.
pub fn run(what: TrainWhat) -> Result<()> {
    match what {
        TrainWhat::Denoiser(a) => denoiser(*a),
        TrainWhat::Vae(a) => generative(a, false),
        TrainWhat::Gan(a) => generative(a, true),
    }
}

fn bundled_validation() -> Result<ImageSet> {
    let names = ["camera", "coins", "mri_brain", "shepp_logan"];
    let mut images = Vec::new();
    for n in names {
        let im = posterior::data::bundled(n)?;
        images.push(
            im.into_dimensionality::<ndarray::Ix2>()
                .map_err(|e| Error::param("validation image", e.to_string()))?,
        );
    }
    Ok(ImageSet::from_images(
        names.iter().map(|n| format!("{n}_256.png")).collect(),
        images,
    ))
}

/// The checkpoint file: the one given, or the output path with `.ckpt` appended.
fn checkpoint_path(out: &Path, given: Option<&Path>) -> PathBuf {
    given.map_or_else(
        || {
            let mut p = out.as_os_str().to_owned();
            p.push(".ckpt");
            PathBuf::from(p)
        },
        Path::to_path_buf,
    )
}

/// `flag v (the checkpoint's: kept)` when a flag given on a resumed run asks for another value.
fn differs<T: PartialEq + std::fmt::Display>(
    flag: &str,
    given: Option<T>,
    kept: T,
) -> Option<String> {
    given
        .filter(|v| *v != kept)
        .map(|v| format!("{flag} {v} (the checkpoint's: {kept})"))
}

/// The error for flags that disagree with the checkpoint being resumed.
fn settings_clash(ckpt: &Path, clash: &[String]) -> Result<()> {
    if clash.is_empty() {
        return Ok(());
    }
    Err(Error::param(
        "resume",
        format!(
            "the run in {} was made with other settings: {}; a resumed run keeps its \
             settings (but --batch, --patch, --scales, --dead-leaves, --ellipses, \
             --aliased-ellipses and --resampled-ellipses may change with a new phase, --lr), so drop those flags, or start a new run with another --checkpoint",
            ckpt.display(),
            clash.join(", ")
        ),
    ))
}

/// The run's settings: the flags over the defaults for a new run; for `--resume`, the
/// checkpoint's, after checking that no flag given asks for another value (it would be
/// ignored, and the run would not be the one the command line describes).
fn denoiser_config(
    a: &DenoiserArgs,
    ckpt: &Path,
    init: Option<&InitWeights>,
) -> Result<TrainConfig> {
    if a.resume {
        let base = train::Checkpoint::load(ckpt)?.config;
        // Batch, patch, scales and dead leaves may change with a new phase (--lr), the
        // rest never.
        let phase_only = |c: Option<String>| c.filter(|_| a.lr.is_none());
        let clash: Vec<String> = [
            differs("--seed", a.seed, base.seed),
            phase_only(differs("--batch", a.batch, base.batch)),
            phase_only(differs("--patch", a.patch, base.patch)),
            phase_only(
                a.scales
                    .as_ref()
                    .filter(|s| **s != base.scales)
                    .map(|s| format!("--scales {s:?} (the checkpoint's: {:?})", base.scales)),
            ),
            phase_only(differs("--dead-leaves", a.dead_leaves, base.dead_leaves)),
            phase_only(differs("--ellipses", a.ellipses, base.ellipses)),
            phase_only(differs(
                "--aliased-ellipses",
                a.aliased_ellipses,
                base.aliased_ellipses,
            )),
            phase_only(differs(
                "--resampled-ellipses",
                a.resampled_ellipses,
                base.resampled_ellipses,
            )),
            // The flag is on the 0-255 scale; a run started with it stored flag / 255.
            a.sigma_max
                .filter(|v| v / 255.0 != base.sigma_max)
                .map(|v| {
                    format!(
                        "--sigma-max {v} (the checkpoint's: {})",
                        base.sigma_max * 255.0
                    )
                }),
            differs("--depth", a.depth, base.net.depth),
            differs("--features", a.features, base.net.features),
            differs("--levels", a.levels, base.net.levels),
            a.output_scale
                .as_deref()
                .map(OutputScale::parse)
                .transpose()?
                .filter(|v| *v != base.net.output_scale)
                .map(|v| {
                    format!(
                        "--output-scale {} (the checkpoint's: {})",
                        v.name(),
                        base.net.output_scale.name()
                    )
                }),
            differs("--loss", a.loss.as_deref(), base.loss.name()),
            differs("--validate-every", a.validate_every, base.validate_every),
            differs(
                "--checkpoint-every",
                a.checkpoint_every,
                base.checkpoint_every,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        settings_clash(ckpt, &clash)?;
        return Ok(TrainConfig {
            steps: a.steps,
            restart_lr: a.lr,
            scales: a.scales.clone().unwrap_or(base.scales.clone()),
            dead_leaves: a.dead_leaves.unwrap_or(base.dead_leaves),
            ellipses: a.ellipses.unwrap_or(base.ellipses),
            aliased_ellipses: a.aliased_ellipses.unwrap_or(base.aliased_ellipses),
            resampled_ellipses: a.resampled_ellipses.unwrap_or(base.resampled_ellipses),
            batch: a.batch.unwrap_or(base.batch),
            patch: a.patch.unwrap_or(base.patch),
            ..base
        });
    }
    let base = TrainConfig::default();
    let net = init.map_or(base.net, |i| i.net);
    Ok(TrainConfig {
        net: DenoiserConfig {
            channels: 1,
            features: a.features.unwrap_or(net.features),
            depth: a.depth.unwrap_or(net.depth),
            levels: a.levels.unwrap_or(net.levels),
            output_scale: a
                .output_scale
                .as_deref()
                .map_or(Ok(net.output_scale), OutputScale::parse)?,
        },
        steps: a.steps,
        batch: a.batch.unwrap_or(base.batch),
        patch: a.patch.unwrap_or(base.patch),
        lr: a.lr.unwrap_or(base.lr),
        restart_lr: None,
        sigma_max: a.sigma_max.map_or(base.sigma_max, |v| v / 255.0),
        seed: a.seed.unwrap_or(base.seed),
        validate_every: a.validate_every.unwrap_or(base.validate_every),
        checkpoint_every: a.checkpoint_every.unwrap_or(base.checkpoint_every),
        scales: a.scales.clone().unwrap_or(base.scales.clone()),
        dead_leaves: a.dead_leaves.unwrap_or(base.dead_leaves),
        ellipses: a.ellipses.unwrap_or(base.ellipses),
        aliased_ellipses: a.aliased_ellipses.unwrap_or(base.aliased_ellipses),
        resampled_ellipses: a.resampled_ellipses.unwrap_or(base.resampled_ellipses),
        loss: a.loss.as_deref().map_or(Ok(base.loss), Loss::parse)?,
        init: init.map(|i| i.note.clone()),
        ..base
    })
}

/// Trained weights a new run starts from (`--init`).
struct InitWeights {
    net: DenoiserConfig,
    params: posterior_nn::params::ParamSet,
    /// `NAME (sha256 …, KIND SHAPE, N steps)`, recorded in the run's settings.
    note: String,
}

/// `--init`: a weight file, or `net=NAME` for a shipped network.
fn load_init(path: &Path) -> Result<InitWeights> {
    let text = path.to_string_lossy();
    let (bytes, name) = match text.strip_prefix("net=") {
        Some(net) => {
            let (bytes, entry) = posterior_nn::learned::shipped_bytes(net)?;
            (bytes.to_vec(), entry.file)
        }
        None => (
            std::fs::read(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
            path.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    let file = posterior_nn::weights::WeightFile::from_bytes(&bytes, &text)?;
    // (the `learned` denoiser's own loading: architecture, configuration and every array
    // checked as for denoising)
    let loaded = posterior_nn::LearnedDenoiser::from_file(&file, posterior_nn::cpu())?;
    let (net, params) = (*loaded.config(), loaded.params().clone());
    let steps = file
        .meta("posterior.steps")
        .map_or(String::new(), |s| format!(", {s} steps"));
    let note = format!(
        "{name} (sha256 {}, {} {}{steps})",
        posterior_nn::weights::sha256_hex(&bytes),
        net.kind(),
        net.shape_label(),
    );
    Ok(InitWeights { net, params, note })
}

/// The manifest's words for the generated images a run trained on (empty: none).
fn generated_note(config: &TrainConfig) -> String {
    let mut note = String::new();
    for (count, what, flag) in [
        (config.dead_leaves, "dead-leaves images", "--dead-leaves"),
        (config.ellipses, "ellipse phantoms", "--ellipses"),
        (
            config.aliased_ellipses,
            "aliased ellipse phantoms",
            "--aliased-ellipses",
        ),
        (
            config.resampled_ellipses,
            "resampled ellipse phantoms",
            "--resampled-ellipses",
        ),
    ] {
        if count > 0 {
            note += &format!(
                "; and {count} generated {what} ({flag}, seed {})",
                config.seed
            );
        }
    }
    note
}

fn denoiser(a: DenoiserArgs) -> Result<()> {
    let ckpt = checkpoint_path(&a.out, a.checkpoint.as_deref());
    if a.resume && a.init.is_some() {
        return Err(Error::param(
            "init",
            "--init starts a new run from trained weights, --resume continues a checkpoint: give one of them",
        ));
    }
    let init = a.init.as_deref().map(load_init).transpose()?;
    let config = denoiser_config(&a, &ckpt, init.as_ref())?;
    config.validate()?;
    // (checked before anything is printed or loaded; the new blocks' first kernels are
    // drawn from the run's seed)
    let start = init
        .map(|i| {
            let params =
                config
                    .net
                    .grown_from(&i.net, &i.params, &mut posterior::rng(config.seed))?;
            Ok::<_, Error>((params, i.note))
        })
        .transpose()?;
    let device = posterior_nn::device_by_name(&a.device)?;
    let data = ImageSet::load_dir(&a.data)?;
    let val_images = match &a.val {
        Some(dir) => ImageSet::load_dir(dir)?,
        None => bundled_validation()?,
    };
    let validation = Validation {
        images: val_images,
        sigmas255: vec![15.0, 25.0, 50.0],
        seed: 1234,
    };
    let mut source_note = if config.scales == [1.0] {
        String::new()
    } else {
        let list: Vec<String> = config.scales.iter().map(|s| s.to_string()).collect();
        format!(
            " at scales {} ({} pixels)",
            list.join(", "),
            data.at_scales(&config.scales)?.pixels()
        )
    };
    use posterior_nn::train::data::{DEAD_LEAVES_SIDE, ELLIPSES_SIDE};
    for (count, side, what) in [
        (config.dead_leaves, DEAD_LEAVES_SIDE, "dead-leaves images"),
        (config.ellipses, ELLIPSES_SIDE, "ellipse phantoms"),
        (
            config.aliased_ellipses,
            ELLIPSES_SIDE,
            "aliased ellipse phantoms",
        ),
        (
            config.resampled_ellipses,
            ELLIPSES_SIDE,
            "resampled ellipse phantoms",
        ),
    ] {
        if count > 0 {
            source_note += &format!(" and {count} {what} ({} pixels)", count * side * side);
        }
    }
    eprintln!(
        "training {} ({}, {} parameters) on {} images ({} pixels){source_note}: {} steps of {} patches {}x{}{}",
        config.net.kind(),
        config.net.summary(),
        config.net.init(&mut posterior::rng(0))?.count(),
        data.names.len(),
        data.pixels(),
        config.steps,
        config.batch,
        config.patch,
        config.patch,
        if config.loss == Loss::L1 {
            ", L1 loss"
        } else {
            ""
        }
    );
    // Without a terminal (logs, CI) the bar is hidden: print a line every 50 steps instead.
    let plain = !a.quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let say = |bar: &ProgressBar, line: String| {
        if plain {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let bar = if a.quiet || plain {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(
            Some(config.steps),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        b.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let mut on_event = |e: &Event| match e {
        Event::Step {
            step,
            loss,
            lr,
            patches_per_s,
            ..
        } => {
            let msg = match config.loss {
                Loss::Mse => format!(
                    "loss {:.3e} ({:.2} dB)  lr {lr:.2e}  {patches_per_s:.1} patches/s",
                    loss,
                    -10.0 * loss.max(1e-12).log10()
                ),
                Loss::L1 => {
                    format!("loss {loss:.3e} (L1)  lr {lr:.2e}  {patches_per_s:.1} patches/s")
                }
            };
            if plain && step % 50 == 0 {
                eprintln!("step {step}/{}: {msg}", config.steps);
            }
            bar.set_position(*step);
            bar.set_message(msg);
        }
        Event::Validated { step, psnr } => {
            let txt: Vec<String> = psnr
                .iter()
                .map(|(s, p)| format!("σ={s}: {p:.2} dB"))
                .collect();
            say(&bar, format!("step {step}: validation {}", txt.join(", ")));
        }
        Event::Checkpointed { .. } => {}
        // (step 0: the start written for --init, announced above)
        Event::Resumed { step: 0 } => {}
        Event::Resumed { step } => say(&bar, format!("resumed at step {step}")),
    };
    // A run from trained weights starts as a checkpoint at step 0, which the trainer
    // then resumes like any other (a kill before the first checkpoint resumes from it).
    if let Some((params, note)) = start {
        train::Checkpoint::start(&config, &data, params)?.save(&ckpt)?;
        eprintln!("starting from {note}");
    }
    let flag = crate::interrupt_flag();
    let out = train::train_denoiser(
        &config,
        &data,
        Some(&validation),
        &device,
        &ckpt,
        a.resume || config.init.is_some(),
        &mut on_event,
        Some(&flag),
    )?;
    bar.finish_and_clear();
    if out.interrupted {
        eprintln!(
            "interrupted at step {}: checkpoint {} (continue with the same command and --resume)",
            out.checkpoint.step,
            ckpt.display()
        );
        return Ok(());
    }
    train::save_weights(&a.out, &out.checkpoint)?;
    print_manifest_entry(&a.out, &out.checkpoint, &a.data)?;
    Ok(())
}

fn print_manifest_entry(path: &Path, ck: &train::Checkpoint, data: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let val = ck
        .history
        .iter()
        .rev()
        .find(|h| !h.validation.is_empty())
        .map(|h| {
            serde_json::Value::Object(
                h.validation
                    .iter()
                    .map(|(s, p)| {
                        (
                            format!("psnr_sigma{s}"),
                            serde_json::json!((p * 100.0).round() / 100.0),
                        )
                    })
                    .collect(),
            )
        })
        .unwrap_or(serde_json::Value::Null);
    let entry = posterior_nn::weights::ManifestEntry {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file: path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kind: ck.config.net.kind().into(),
        config: serde_json::to_value(ck.config.net).map_err(|e| Error::Spec(e.to_string()))?,
        data: format!(
            "{}: {}{}",
            data.display(),
            ck.data.join(", "),
            generated_note(&ck.config)
        ),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        steps: ck.step,
        seed: ck.config.seed,
        validation: val,
        parameters: ck.params.count(),
        sha256: posterior_nn::weights::sha256_hex(&bytes),
    };
    eprintln!(
        "weights written to {} (manifest entry on stdout)",
        path.display()
    );
    crate::print_line(serde_json::to_string_pretty(&entry).map_err(|e| Error::Spec(e.to_string()))?)
}

fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    b.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

fn generative(a: GenArgs, gan: bool) -> Result<()> {
    use posterior_nn::generative::digits::ImageStack;
    use posterior_nn::generative::gan::GanConfig;
    use posterior_nn::generative::train::{self as gt, GenEvent, GenNet, GenTrainConfig};
    use posterior_nn::generative::vae::VaeConfig;

    let data = ImageStack::load(&a.data)?;
    let test = a.test.as_deref().map(ImageStack::load).transpose()?;
    let ckpt = checkpoint_path(&a.out, a.checkpoint.as_deref());
    let config = if a.resume {
        // The checkpoint's settings, with --steps; a flag given with another value is an
        // error, as the run would not be the one the command line describes.
        let mut config = gt::GenCheckpoint::load(&ckpt)?.config;
        let (latent, hidden, features) = match config.net {
            GenNet::Vae(v) if !gan => (v.latent, Some(v.hidden), None),
            GenNet::Gan(g) if gan => (g.latent, None, Some(g.features)),
            _ => {
                return Err(Error::param(
                    "resume",
                    format!(
                        "{} holds a {} checkpoint, not a {}",
                        ckpt.display(),
                        if gan { "VAE" } else { "GAN" },
                        if gan { "GAN" } else { "VAE" }
                    ),
                ));
            }
        };
        let clash: Vec<String> = [
            differs("--seed", a.seed, config.seed),
            differs("--batch", a.batch, config.batch),
            a.lr.filter(|v| *v != config.lr)
                .map(|v| format!("--lr {v} (the checkpoint's: {})", config.lr)),
            differs("--eval-every", a.eval_every, config.eval_every),
            differs("--latent", a.latent, latent),
            hidden.and_then(|h| differs("--hidden", a.hidden, h)),
            features.and_then(|f| differs("--features", a.features, f)),
        ]
        .into_iter()
        .flatten()
        .collect();
        settings_clash(&ckpt, &clash)?;
        if let Some(v) = a.steps {
            config.steps = v;
        }
        config
    } else {
        let mut config = if gan {
            let d = GanConfig::default();
            GenTrainConfig::gan(GanConfig {
                height: data.height,
                width: data.width,
                latent: a.latent.unwrap_or(d.latent),
                features: a.features.unwrap_or(d.features),
            })
        } else {
            let d = VaeConfig::default();
            GenTrainConfig::vae(VaeConfig {
                height: data.height,
                width: data.width,
                hidden: a.hidden.unwrap_or(d.hidden),
                latent: a.latent.unwrap_or(d.latent),
            })
        };
        if let Some(v) = a.seed {
            config.seed = v;
        }
        if let Some(v) = a.steps {
            config.steps = v;
        }
        if let Some(v) = a.batch {
            config.batch = v;
        }
        if let Some(v) = a.lr {
            config.lr = v;
        }
        if let Some(v) = a.eval_every {
            config.eval_every = v;
        }
        config
    };
    config.validate()?;
    let device = posterior_nn::device_by_name(&a.device)?;
    eprintln!(
        "training {} on {} ({} images {}x{}): {} steps of {} images",
        if gan {
            GanConfig::KIND
        } else {
            VaeConfig::KIND
        },
        data.origin,
        data.n,
        data.height,
        data.width,
        config.steps,
        config.batch
    );
    let plain = !a.quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = progress_bar(config.steps, a.quiet || plain);
    let every = (config.steps / 40).clamp(1, 250);
    let mut on_event = |e: &GenEvent| match e {
        GenEvent::Step {
            step,
            losses,
            images_per_s,
            ..
        } => {
            let txt: Vec<String> = losses.iter().map(|(n, v)| format!("{n} {v:.4}")).collect();
            let msg = format!("{}  {images_per_s:.0} images/s", txt.join("  "));
            if plain && step % every == 0 {
                eprintln!("step {step}/{}: {msg}", config.steps);
            }
            bar.set_position(*step);
            bar.set_message(msg);
        }
        GenEvent::Evaluated(ev) => {
            let txt: Vec<String> = ev
                .metrics
                .iter()
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect();
            let line = format!("step {}: test {}", ev.step, txt.join(", "));
            if plain {
                eprintln!("{line}")
            } else {
                bar.println(line)
            }
        }
        GenEvent::Resumed { step } => eprintln!("resumed at step {step}"),
    };
    let flag = crate::interrupt_flag();
    let out = gt::train_generative(
        &config,
        &data,
        test.as_ref(),
        &device,
        &ckpt,
        a.resume,
        &mut on_event,
        Some(&flag),
    )?;
    bar.finish_and_clear();
    let ck = out.checkpoint;
    if out.interrupted {
        eprintln!(
            "interrupted at step {}: checkpoint {} (continue with the same command and --resume)",
            ck.step,
            ckpt.display()
        );
        return Ok(());
    }
    ck.save_weights(&a.out)?;
    let bytes = std::fs::read(&a.out).map_err(|e| Error::Io {
        path: a.out.clone(),
        reason: e.to_string(),
    })?;
    let (kind, net) = match &ck.config.net {
        gt::GenNet::Vae(c) => (VaeConfig::KIND, serde_json::to_value(c)),
        gt::GenNet::Gan(c) => (GanConfig::KIND, serde_json::to_value(c)),
    };
    let metrics = ck.evals.last().map(|e| {
        serde_json::Value::Object(
            e.metrics
                .iter()
                .map(|(n, v)| {
                    (
                        format!("test_{n}"),
                        serde_json::json!((v * 1e4).round() / 1e4),
                    )
                })
                .collect(),
        )
    });
    let entry = posterior_nn::weights::ManifestEntry {
        name: a
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file: a
            .out
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kind: kind.into(),
        config: net.map_err(|e| Error::Spec(e.to_string()))?,
        data: format!(
            "train: {}; test: {}",
            ck.data,
            test.as_ref().map_or("none".into(), |t| format!(
                "{} ({} images)",
                t.origin,
                t.n.min(500)
            ))
        ),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        steps: ck.step,
        seed: ck.config.seed,
        validation: metrics.unwrap_or(serde_json::Value::Null),
        parameters: ck.sets[0].1.count(),
        sha256: posterior_nn::weights::sha256_hex(&bytes),
    };
    eprintln!(
        "weights written to {} (manifest entry on stdout)",
        a.out.display()
    );
    crate::print_line(serde_json::to_string_pretty(&entry).map_err(|e| Error::Spec(e.to_string()))?)
}
