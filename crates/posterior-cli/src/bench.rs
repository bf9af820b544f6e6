//! `posterior bench`: simulate, reconstruct and score in one run.

use std::path::Path;

use clap::Args;
use posterior::io::AnyArray;
use posterior::methods::{self, RunOptions};
use posterior::noise::NoiseModel;
use posterior::{Error, Result, Spec};
use serde::Serialize;

/// Arguments of `posterior bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Forward operator spec.
    #[arg(long)]
    pub operator: String,
    /// Noise spec.
    #[arg(long, default_value = "none")]
    pub noise: String,
    /// Method spec.
    #[arg(long)]
    pub method: String,
    /// Ground-truth image (.png/.npy, intensities in [0, 1]), or the name of a bundled image
    /// (e.g. `camera`).
    #[arg(long)]
    pub input: String,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The scored result of one bench run.
#[derive(Serialize, Debug)]
pub struct BenchResult {
    /// Operator spec as given.
    pub operator: String,
    /// Noise spec as given.
    pub noise: String,
    /// Method spec as given.
    pub method: String,
    /// Input image.
    pub input: String,
    /// Image shape.
    pub shape: Vec<usize>,
    /// Noise seed.
    pub seed: u64,
    /// PSNR (dB, data range 1) of the estimate clipped to [0, 1] (an exact match, +∞, is
    /// written as `null` in JSON).
    pub psnr: f64,
    /// SSIM (11x11 Gaussian window, σ = 1.5) of the clipped estimate; `None` (`null`) for
    /// images smaller than the window.
    pub ssim: Option<f64>,
    /// Reconstruction time in seconds (simulation and scoring excluded).
    pub seconds: f64,
    /// Iterations run (0 for direct methods).
    pub iterations: usize,
    /// Forward-operator applications.
    pub forward_applications: u64,
    /// Adjoint applications.
    pub adjoint_applications: u64,
    /// Why the method stopped.
    pub termination: String,
}

/// Load an image from a path or, when no such file exists, a bundled image by name.
pub fn load_input(input: &str) -> Result<ndarray::ArrayD<f32>> {
    let path = Path::new(input);
    if path.exists() {
        return crate::read_image_checked(path);
    }
    let name = input.trim_end_matches(".png");
    if posterior::data::BUNDLED.contains(&name.trim_end_matches("_256")) {
        return Ok(posterior::data::bundled(name)?.into_dyn());
    }
    Err(Error::Io {
        path: path.to_path_buf(),
        reason: format!(
            "no such file, and not a bundled image ({})",
            posterior::data::BUNDLED.join(", ")
        ),
    })
}

/// How far outside `[0, 1]` a scored image may reach (rounding, resampling overshoot).
const RANGE_SLACK: f32 = 0.01;

/// Load an image that is scored: `bench`'s ground truth or `reconstruct`'s `--reference`
/// (`flag`). Scores are PSNR/SSIM with data range 1 on the estimate clipped to `[0, 1]`,
/// and `bench`'s noise levels are on that scale too, so an image on another scale (a
/// `[0, 255]` or raw-count array) is refused with a hint instead of being scored to a
/// meaningless number.
pub fn load_scored(input: &str, flag: &str) -> Result<ndarray::ArrayD<f32>> {
    let x = load_input(input)?;
    let (lo, hi) = x
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo < -RANGE_SLACK || hi > 1.0 + RANGE_SLACK {
        return Err(Error::param(
            flag,
            format!(
                "{input} spans [{lo}, {hi}], but scores (PSNR/SSIM, data range 1, estimate \
                 clipped to [0, 1]) and noise levels are on the [0, 1] intensity scale; \
                 rescale the image to [0, 1] first (e.g. divide by its maximum)"
            ),
        ));
    }
    Ok(x)
}

/// Run one simulate-reconstruct-score cycle.
pub fn bench_once(
    operator: &str,
    noise: &str,
    method: &str,
    x: &ndarray::ArrayD<f32>,
    seed: u64,
) -> Result<(BenchResult, AnyArray, AnyArray)> {
    let spec = Spec::parse(operator)?;
    let noise_model = NoiseModel::from_spec(&Spec::parse(noise)?)?;
    let method_spec = Spec::parse(method)?;
    let op = posterior::ops::build_operator(operator, x.shape())?;
    let y = methods::simulate(&op, x, &noise_model, seed)?;
    let out = methods::reconstruct(
        &spec,
        &op,
        &y,
        &method_spec,
        RunOptions {
            noise: Some(noise_model),
            ..RunOptions::default()
        },
    )?;
    let est = posterior::methods::real_image(&out.x);
    let est = est.mapv(|v| v.clamp(0.0, 1.0));
    let res = BenchResult {
        operator: operator.to_string(),
        noise: noise.to_string(),
        method: method.to_string(),
        input: String::new(),
        shape: x.shape().to_vec(),
        seed,
        psnr: posterior::metrics::psnr(est.view(), x.view(), 1.0),
        ssim: crate::ssim_if_fits(est.view(), x.view(), false)?,
        seconds: out.seconds,
        iterations: out.iterations,
        forward_applications: out.counts.forward,
        adjoint_applications: out.counts.adjoint,
        termination: out.termination.clone(),
    };
    Ok((res, y, out.x))
}

/// `posterior bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let x = load_scored(&args.input, "--input")?;
    let (mut res, _, _) = bench_once(&args.operator, &args.noise, &args.method, &x, args.seed)?;
    res.input = args.input.clone();
    if args.json {
        crate::print_line(
            serde_json::to_string(&res).map_err(|e| Error::param("json", e.to_string()))?,
        )?;
    } else {
        crate::print_line(format_args!(
            "{} | {} | {} on {}: PSNR {:.2} dB, SSIM {}, {:.3} s, {} iterations ({} A, {} A^H), {}",
            res.operator,
            res.noise,
            res.method,
            res.input,
            res.psnr,
            crate::fmt_ssim(res.ssim, 4),
            res.seconds,
            res.iterations,
            res.forward_applications,
            res.adjoint_applications,
            res.termination
        ))?;
    }
    Ok(())
}
