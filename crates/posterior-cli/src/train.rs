//! `posterior train denoiser`: train the noise-conditioned denoiser and write its weights.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use posterior::{Error, Result};
use posterior_nn::net::DenoiserConfig;
use posterior_nn::train::data::ImageSet;
use posterior_nn::train::{self, Event, TrainConfig, Validation};

/// What to train.
#[derive(Subcommand, Debug)]
pub enum TrainWhat {
    /// The noise-level-conditioned denoiser (`learned`), from a folder of images.
    Denoiser(DenoiserArgs),
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
    /// Continue from the checkpoint (same data, same settings; only --steps may grow).
    #[arg(long)]
    resume: bool,
    /// Seed of the initial weights and of every batch.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Patches per batch.
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    batch: usize,
    /// Patch side (even).
    #[arg(long, default_value_t = TrainConfig::default().patch)]
    patch: usize,
    /// Peak learning rate (cosine decay to 1% of it after a linear warm-up).
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    lr: f32,
    /// Largest training noise level on the 0-255 scale.
    #[arg(long, default_value_t = 60.0)]
    sigma_max: f32,
    /// Convolution layers.
    #[arg(long, default_value_t = DenoiserConfig::default().depth)]
    depth: usize,
    /// Feature maps per hidden layer.
    #[arg(long, default_value_t = DenoiserConfig::default().features)]
    features: usize,
    /// Steps between validations (0: at the end only).
    #[arg(long, default_value_t = TrainConfig::default().validate_every)]
    validate_every: u64,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = TrainConfig::default().checkpoint_every)]
    checkpoint_every: u64,
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
        TrainWhat::Denoiser(a) => denoiser(a),
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

fn denoiser(a: DenoiserArgs) -> Result<()> {
    let config = TrainConfig {
        net: DenoiserConfig {
            channels: 1,
            features: a.features,
            depth: a.depth,
        },
        steps: a.steps,
        batch: a.batch,
        patch: a.patch,
        lr: a.lr,
        sigma_max: a.sigma_max / 255.0,
        seed: a.seed,
        validate_every: a.validate_every,
        checkpoint_every: a.checkpoint_every,
        ..TrainConfig::default()
    };
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
    let ckpt = a.checkpoint.clone().unwrap_or_else(|| {
        let mut p = a.out.clone().into_os_string();
        p.push(".ckpt");
        PathBuf::from(p)
    });
    eprintln!(
        "training {} ({} parameters) on {} images ({} pixels): {} steps of {} patches {}x{}",
        DenoiserConfig::KIND,
        config.net.init(&mut posterior::rng(0))?.count(),
        data.names.len(),
        data.pixels(),
        config.steps,
        config.batch,
        config.patch,
        config.patch
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
            let msg = format!(
                "loss {:.3e} ({:.2} dB)  lr {lr:.2e}  {patches_per_s:.1} patches/s",
                loss,
                -10.0 * loss.max(1e-12).log10()
            );
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
        Event::Resumed { step } => say(&bar, format!("resumed at step {step}")),
    };
    let flag = crate::interrupt_flag();
    let out = train::train_denoiser(
        &config,
        &data,
        Some(&validation),
        &device,
        &ckpt,
        a.resume,
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
        kind: DenoiserConfig::KIND.into(),
        config: serde_json::to_value(ck.config.net).map_err(|e| Error::Spec(e.to_string()))?,
        data: format!("{}: {}", data.display(), ck.data.join(", ")),
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
    println!(
        "{}",
        serde_json::to_string_pretty(&entry).map_err(|e| Error::Spec(e.to_string()))?
    );
    Ok(())
}
