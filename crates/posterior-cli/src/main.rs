//! `posterior`: solve imaging inverse problems y = A x + n from the command line.
//!
//! The binary is thin: it parses arguments and specs, builds library objects, runs them and
//! prints reports. Every numerical piece lives in the `posterior` library.

mod bench;
mod demo;
mod help;
mod progress;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use posterior::io::{self, AnyArray};
use posterior::methods::{self, RunOptions};
use posterior::noise::NoiseModel;
use posterior::{Error, Result, Spec};

#[derive(Parser, Debug)]
#[command(name = "posterior", version, about = "Imaging inverse problems y = A x + n: physics, MLE, MAP and generative priors", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate measurements y = A x + n from an image and write them as .npy.
    Simulate {
        /// Forward operator spec, e.g. `blur:kernel=gaussian,size=9,std=1.6`.
        #[arg(long)]
        operator: String,
        /// Noise spec, e.g. `gaussian:sigma=0.01`, `poisson:peak=100`, `none`.
        #[arg(long, default_value = "none")]
        noise: String,
        /// Input image (.png or .npy), or the name of a bundled image (e.g. `camera`).
        #[arg(long)]
        input: String,
        /// Output measurements (.npy; .png allowed for real, image-shaped data).
        #[arg(long)]
        output: PathBuf,
        /// Seed of the noise draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Apply an operator (or its adjoint) to an array.
    Apply {
        /// Forward operator spec.
        #[arg(long)]
        operator: String,
        /// Input array (.png or .npy): an image, or measurements with --adjoint.
        #[arg(long)]
        input: PathBuf,
        /// Output array (.npy or .png).
        #[arg(long)]
        output: PathBuf,
        /// Apply the adjoint A^H instead of A.
        #[arg(long)]
        adjoint: bool,
        /// Image shape HxW (or CxHxW) when it cannot be inferred from the measurements.
        #[arg(long)]
        shape: Option<String>,
    },
    /// Reconstruct an image from measurements.
    Reconstruct {
        /// Forward operator spec (the same as used to simulate).
        #[arg(long)]
        operator: String,
        /// Measurements (.npy, real or complex).
        #[arg(long)]
        measurements: PathBuf,
        /// Method spec, e.g. `mle:iters=50`, `fbp:filter=ramp`, `adjoint`.
        #[arg(long)]
        method: String,
        /// Output image (.png or .npy).
        #[arg(long)]
        output: PathBuf,
        /// Image shape HxW (or CxHxW) when it cannot be inferred from the measurements.
        #[arg(long)]
        shape: Option<String>,
        /// Noise model of the measurements when known, e.g. `gaussian:sigma=0.01` or
        /// `poisson:peak=100`: it sets the default regularization weight and denoiser levels,
        /// which are otherwise estimated from the measurements (not possible for
        /// compressed-sensing data, where the methods then ask for it).
        #[arg(long)]
        noise: Option<String>,
        /// Ground truth for per-iteration PSNR in the log and a final score (.png or .npy
        /// with intensities in [0, 1], or the name of a bundled image).
        #[arg(long)]
        reference: Option<String>,
        /// Write one JSON object per iteration to this file, then a summary line (direct
        /// methods such as `fbp` or `bm3d` write the summary line alone).
        #[arg(long)]
        log: Option<PathBuf>,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        /// Print one JSON object on stdout at the end: method, operator, iterations,
        /// termination, seconds (the solve only), operator counts, the final objective
        /// (when the method reports one) and, with --reference, PSNR and SSIM (7x7 uniform
        /// window) of the estimate (its magnitude if complex) clipped to [0, 1], data
        /// range 1.
        #[arg(long)]
        json: bool,
    },
    /// Simulate, reconstruct and score in one go.
    Bench(bench::BenchArgs),
    /// Run a small gallery on bundled data; writes PNGs and an HTML report.
    Demo(demo::DemoArgs),
    /// Train a network (the learned denoiser) and write its weights.
    Train {
        /// What to train.
        #[command(subcommand)]
        what: train::TrainWhat,
    },
    /// Draw images from a generative prior, G(z) with z ~ N(0, I), and write them as a grid PNG.
    SamplePrior {
        /// vae or gan.
        #[arg(long, default_value = "vae")]
        prior: String,
        /// Which shipped model: mnist or fashion.
        #[arg(long, default_value = "mnist")]
        data: String,
        /// A weight file from `posterior train vae|gan` instead of a shipped model.
        #[arg(long)]
        weights: Option<String>,
        /// Number of samples.
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Grid columns.
        #[arg(long, default_value_t = 8)]
        cols: usize,
        /// Seed of the latent draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output grid (.png); the samples themselves also go to --npy when given.
        #[arg(long)]
        out: PathBuf,
        /// Write the samples [n, H, W] as .npy too.
        #[arg(long)]
        npy: Option<PathBuf>,
    },
    /// List operators, noise models and methods with their parameters.
    List,
}

fn main() -> ExitCode {
    posterior_nn::register();
    let cmd = Cli::command()
        .after_long_help(help::catalogue())
        .after_help(
            "Run `posterior list` or `posterior --help` for operators, noise models and methods.",
        );
    let matches = cmd.get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate {
            operator,
            noise,
            input,
            output,
            seed,
        } => simulate(&operator, &noise, &input, &output, seed),
        Command::Apply {
            operator,
            input,
            output,
            adjoint,
            shape,
        } => apply(&operator, &input, &output, adjoint, shape.as_deref()),
        Command::Reconstruct {
            operator,
            measurements,
            method,
            output,
            shape,
            noise,
            reference,
            log,
            quiet,
            json,
        } => reconstruct(
            &operator,
            &measurements,
            &method,
            &output,
            shape.as_deref(),
            noise.as_deref(),
            reference.as_deref(),
            log.as_deref(),
            quiet,
            json,
        ),
        Command::Bench(args) => bench::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Train { what } => train::run(what),
        Command::SamplePrior {
            prior,
            data,
            weights,
            n,
            cols,
            seed,
            out,
            npy,
        } => sample_prior(
            &prior,
            &data,
            weights.as_deref(),
            n,
            cols,
            seed,
            &out,
            npy.as_deref(),
        ),
        Command::List => print_line(help::catalogue()),
    }
}

/// Write `text` and a newline to stdout. A closed pipe (`posterior list | head -1`) or a
/// full disk is an error with a message and exit code 2, where `println!` would panic.
pub fn print_line(text: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::Io {
            path: PathBuf::from("<stdout>"),
            reason: format!("cannot write the result: {e}"),
        })
}

/// Write an output array (.npy or .png, atomically). A PNG holds [0, 1] only, so values
/// outside are clipped; say so on stderr, with how many, as measurements and
/// unconstrained estimates often leave the range and `.npy` keeps them.
pub fn write_output(path: &Path, array: &AnyArray) -> Result<()> {
    io::write_array(path, array)?;
    if let (Some("png"), AnyArray::Real(a)) = (io::extension(path).as_deref(), array) {
        let clipped = a.iter().filter(|&&v| !(0.0..=1.0).contains(&v)).count();
        if clipped > 0 {
            eprintln!(
                "note: {clipped} of {} values lie outside [0, 1] and were clipped in the PNG; \
                 write .npy to keep them",
                a.len()
            );
        }
    }
    Ok(())
}

/// Parse `HxW` or `CxHxW`.
pub fn parse_shape(text: &str) -> Result<Vec<usize>> {
    let dims: std::result::Result<Vec<usize>, _> = text
        .split(['x', 'X', ','])
        .map(|d| d.trim().parse::<usize>())
        .collect();
    match dims {
        Ok(d) if (d.len() == 2 || d.len() == 3) && d.iter().all(|&v| v > 0) => {
            let total: u128 = d.iter().map(|&v| v as u128).product();
            if total > (1u128 << 28) {
                return Err(Error::param("shape", format!("{text} is absurdly large")));
            }
            Ok(d)
        }
        _ => Err(Error::param(
            "shape",
            format!("`{text}` is not of the form HxW or CxHxW with positive sizes"),
        )),
    }
}

/// Read an image and reject non-finite values.
pub fn read_image_checked(path: &Path) -> Result<ndarray::ArrayD<f32>> {
    let x = io::read_image(path)?;
    io::check_finite(&path.display().to_string(), x.view())?;
    Ok(x)
}

fn simulate(operator: &str, noise: &str, input: &str, output: &Path, seed: u64) -> Result<()> {
    let x = bench::load_input(input)?;
    let noise = NoiseModel::from_spec(&Spec::parse(noise)?)?;
    let op = posterior::ops::build_operator(operator, x.shape())?;
    let y = methods::simulate(&op, &x, &noise, seed)?;
    write_output(output, &y)?;
    eprintln!(
        "{}: {} -> {:?} measurements with {} noise (seed {seed}) written to {}",
        op.describe(),
        shape_str(x.shape()),
        op.range_shape(),
        noise.describe(),
        output.display()
    );
    Ok(())
}

fn domain_for(spec: &Spec, range: &[usize], shape: Option<&str>) -> Result<Vec<usize>> {
    match shape {
        Some(s) => parse_shape(s),
        None => {
            let entry = posterior::ops::registry::find_entry(&spec.name)?;
            (entry.infer_domain)(spec, range)
        }
    }
}

fn apply(
    operator: &str,
    input: &Path,
    output: &Path,
    adjoint: bool,
    shape: Option<&str>,
) -> Result<()> {
    let spec = Spec::parse(operator)?;
    let data = io::read_array(input)?;
    io::check_finite_any(&input.display().to_string(), &data)?;
    let domain = if adjoint {
        domain_for(&spec, data.shape(), shape)?
    } else {
        data.shape().to_vec()
    };
    let entry = posterior::ops::registry::find_entry(&spec.name)?;
    let op = (entry.build)(&spec, &domain)?;
    let out = if adjoint {
        methods::adjoint(&op, &data)?
    } else {
        methods::forward(&op, &data)?
    };
    write_output(output, &out)?;
    eprintln!(
        "{}{}: {:?} -> {:?} written to {}",
        op.describe(),
        if adjoint { " (adjoint)" } else { "" },
        data.shape(),
        out.shape(),
        output.display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)] // reason: mirrors the subcommand's flags one to one
fn reconstruct(
    operator: &str,
    measurements: &Path,
    method: &str,
    output: &Path,
    shape: Option<&str>,
    noise: Option<&str>,
    reference: Option<&str>,
    log: Option<&Path>,
    quiet: bool,
    json: bool,
) -> Result<()> {
    let spec = Spec::parse(operator)?;
    let method_text = method;
    let method = Spec::parse(method)?;
    let y = io::read_array(measurements)?;
    io::check_finite_any(&measurements.display().to_string(), &y)?;
    let domain = domain_for(&spec, y.shape(), shape)?;
    let entry = posterior::ops::registry::find_entry(&spec.name)?;
    let op = (entry.build)(&spec, &domain)?;
    let noise = match noise {
        Some(text) => Some(NoiseModel::from_spec(&Spec::parse(text)?)?),
        None => None,
    };
    let reference = match reference {
        Some(p) => {
            let r = bench::load_scored(p, "--reference")?;
            posterior::ops::check_shape(
                op.domain_shape(),
                r.shape(),
                "--reference vs image shape",
            )?;
            Some(r)
        }
        None => None,
    };
    let mut opts = RunOptions {
        reference: reference.clone(),
        noise,
        ..RunOptions::default()
    };
    if let Some(p) = log {
        opts.json_log = Some(p.to_path_buf());
    }
    opts.interrupt = Some(interrupt_flag());
    let bar = progress::Progress::new(quiet);
    opts.progress = Some(bar.callback());
    let out = methods::reconstruct(&spec, &op, &y, &method, opts)?;
    bar.finish();
    // Scores first: nothing may fail once the output is written.
    let line = match (&reference, &out.x) {
        (Some(r), AnyArray::Real(x)) => {
            let xc = x.mapv(|v| v.clamp(0.0, 1.0));
            Some(format!(
                "PSNR {:.2} dB, SSIM {} against the reference",
                posterior::metrics::psnr(xc.view(), r.view(), 1.0),
                fmt_ssim(ssim_if_fits(xc.view(), r.view(), false)?, 4)
            ))
        }
        _ => None,
    };
    let score = match &reference {
        Some(r) if json => Some(score_clipped(&out.x, r)?),
        _ => None,
    };
    write_output(output, &out.x)?;
    eprintln!("{}", out.summary);
    if let Some(line) = line {
        eprintln!("{line}");
    }
    eprintln!("written to {}", output.display());
    if json {
        let record = run_record(operator, method_text, &op.describe(), output, &out, score);
        print_line(record)?;
    }
    Ok(())
}

/// SSIM of `x` against `reference` (data range 1): the 11x11 Gaussian window of the
/// paper, or with `uniform7` scikit-image's default 7x7 uniform one; `None` when the image
/// is smaller than the window (a tiny image is still reconstructed and scored by PSNR).
pub fn ssim_if_fits(
    x: ndarray::ArrayViewD<f32>,
    reference: ndarray::ArrayViewD<f32>,
    uniform7: bool,
) -> Result<Option<f64>> {
    let k = if uniform7 { 7 } else { 11 };
    let s = x.shape();
    if s.len() < 2 || s[s.len() - 1] < k || s[s.len() - 2] < k {
        return Ok(None);
    }
    Ok(Some(if uniform7 {
        posterior::metrics::ssim_uniform7(x, reference, 1.0)?
    } else {
        posterior::metrics::ssim(x, reference, 1.0)?
    }))
}

/// An SSIM for display, or `n/a` (image smaller than the window).
pub fn fmt_ssim(ssim: Option<f64>, digits: usize) -> String {
    ssim.map_or_else(|| "n/a".into(), |v| format!("{v:.digits$}"))
}

/// PSNR (dB) and SSIM (7x7 uniform window, sample covariance: scikit-image's default) of
/// the estimate against `reference`, both with data range 1, on the estimate clipped to
/// `[0, 1]`; complex estimates are scored by their magnitude. This is the convention of
/// the Python peer scripts (scripts/peers), so the numbers compare one to one.
fn score_clipped(x: &AnyArray, reference: &ndarray::ArrayD<f32>) -> Result<(f64, Option<f64>)> {
    let xc = methods::real_image(x).mapv(|v| v.clamp(0.0, 1.0));
    Ok((
        posterior::metrics::psnr(xc.view(), reference.view(), 1.0),
        ssim_if_fits(xc.view(), reference.view(), true)?,
    ))
}

/// The `reconstruct --json` record. `objective` is the last value the method reported and
/// `objective_iter` the iteration it belongs to (both `null` for direct methods and
/// methods that do not evaluate it); an infinite PSNR
/// (exact match) is written as `null`, as JSON has no infinity.
fn run_record(
    operator: &str,
    method: &str,
    described: &str,
    output: &Path,
    out: &methods::Outcome,
    score: Option<(f64, Option<f64>)>,
) -> serde_json::Value {
    let last = out.history.iter().rev().find(|r| r.objective.is_some());
    let mut record = serde_json::json!({
        "method": method,
        "operator": operator,
        "operator_describe": described,
        "iterations": out.iterations,
        "termination": out.termination,
        "seconds": out.seconds,
        "counts": { "forward": out.counts.forward, "adjoint": out.counts.adjoint },
        "objective": last.and_then(|r| r.objective),
        "objective_iter": last.map(|r| r.iter),
        "output": output.display().to_string(),
    });
    if let Some((psnr, ssim)) = score {
        record["psnr"] = serde_json::json!(psnr);
        record["ssim"] = serde_json::json!(ssim);
    }
    record
}

/// A flag raised by the first Ctrl-C, so an iterative method stops after its current
/// iteration and its estimate is still written; a second Ctrl-C exits at once.
pub fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // reason: installing the handler can only fail if one is already installed, in which
    // case the process keeps the default behaviour (exit on Ctrl-C), which is acceptable
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping after the current iteration (Ctrl-C again to abort)");
    });
    flag
}

/// `HxW` text of a shape.
pub fn shape_str(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

#[allow(clippy::too_many_arguments)] // reason: the subcommand's flags, one each
fn sample_prior(
    prior: &str,
    data: &str,
    weights: Option<&str>,
    n: usize,
    cols: usize,
    seed: u64,
    out: &Path,
    npy: Option<&Path>,
) -> Result<()> {
    use posterior_nn::prior::GenerativePrior;
    if n == 0 || n > 10_000 || cols == 0 {
        return Err(Error::param(
            "n",
            format!("need 1 <= n <= 10000 and cols >= 1, got n={n}, cols={cols}"),
        ));
    }
    let g = posterior_nn::generative::shipped::resolve(prior, data, weights, posterior_nn::cpu())?;
    let k = g.latent_dim();
    let z = posterior_nn::generative::sample_latents(n, k, seed);
    let samples = g.decode(z.view())?;
    let grid = posterior_nn::generative::digits::grid(&samples, cols, 1.0)?;
    posterior::io::write_png(out, &grid.view(), 8)?;
    if let Some(p) = npy {
        posterior::io::write_npy_real(p, &samples.view())?;
    }
    eprintln!(
        "{n} samples of {} written to {}",
        g.describe(),
        out.display()
    );
    Ok(())
}
