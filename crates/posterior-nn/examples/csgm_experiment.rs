//! The compressed-sensing experiment of Bora et al. (2017, Fig. 1) on the project's own priors:
//! per-pixel reconstruction error against the number of Gaussian measurements for Lasso
//! (pixel, DCT and wavelet bases), VAE and GAN latent MAP, and their sparse-deviation
//! variants (Dhar et al. 2018); and inpainting (random pixels, a centred box) with each prior.
//!
//! ```text
//! cargo run --profile test -p posterior-nn --example csgm_experiment -- \
//!     --data mnist --out results/csgm            # the CS table (csgm_mnist.csv)
//! cargo run ... -- --data mnist --inpaint --out results/csgm   # inpainting table + images
//! python3 scripts/csgm_plot.py results/csgm/csgm_mnist.csv docs/csgm_mnist.png
//! ```
//!
//! Setup (the paper's MNIST setting): `A` has i.i.d. `N(0, 1)` entries (a fresh draw per image
//! and `m`), the noise is `N(0, 0.1²)` per measurement, test images are 5 per class from the
//! held-out set (50 in all; never seen in training), the error is `‖x̂ − x‖² / n`. Lasso's
//! weight is chosen per `m` and basis from a grid on 5 *training* images. Every random draw
//! is seeded; a rerun reproduces the table.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use ndarray::{ArrayD, Axis, IxDyn};
use posterior::io::AnyArray;
use posterior::methods::{self, RunOptions};
use posterior::noise::NoiseModel;
use posterior::ops::{AnyOperator, LinearOperator, Scaled};
use posterior::prox::{L1, LeastSquares};
use posterior::solve::{Driver, Fista, FistaParams};
use posterior::{Result, Spec};
use posterior_nn::csgm::{self, CsgmParams};
use posterior_nn::generative::digits::{ImageStack, grid};
use posterior_nn::generative::shipped::resolve;
use posterior_nn::prior::GenerativePrior;
use rayon::prelude::*;

struct Args {
    data: String,
    images: usize,
    ms: Vec<usize>,
    methods: Vec<String>,
    restarts: usize,
    iters: usize,
    inpaint: bool,
    out: PathBuf,
    csv: Option<String>,
}

fn parse() -> Args {
    let mut a = Args {
        data: "mnist".into(),
        images: 50,
        ms: vec![10, 25, 50, 100, 200, 300, 400, 500, 750],
        methods: [
            "lasso-pixel",
            "lasso-dct",
            "lasso-wavelet",
            "vae",
            "gan",
            "vae-sparse",
            "gan-sparse",
        ]
        .map(String::from)
        .to_vec(),
        restarts: 10,
        iters: 1000,
        inpaint: false,
        out: PathBuf::from("results/csgm"),
        csv: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--data" => a.data = v,
            "--images" => a.images = v.parse().expect("--images N"),
            "--ms" => {
                a.ms = v
                    .split(',')
                    .map(|s| s.parse().expect("--ms list"))
                    .collect()
            }
            "--methods" => a.methods = v.split(',').map(String::from).collect(),
            "--restarts" => a.restarts = v.parse().expect("--restarts N"),
            "--iters" => a.iters = v.parse().expect("--iters N"),
            "--out" => a.out = PathBuf::from(v),
            "--csv" => a.csv = Some(v),
            "--inpaint" => {
                a.inpaint = true;
                i += 1;
                continue;
            }
            other => panic!("unknown flag {other}"),
        }
        i += 2;
    }
    a
}

/// Images 5 per class: the stack's labels file sits next to it.
fn pick(stack: &ImageStack, labels: &[f32], per_class: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for c in 0..10 {
        out.extend(
            (0..stack.n)
                .filter(|&i| labels[i] as usize == c)
                .take(per_class),
        );
    }
    out
}

fn load(data: &str) -> (ImageStack, Vec<f32>, ImageStack, Vec<f32>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits/");
    let read = |f: &str| ImageStack::load(&PathBuf::from(format!("{root}{f}.npy"))).unwrap();
    let labels = |f: &str| match posterior::io::read_array(format!("{root}{f}_labels.npy")).unwrap()
    {
        AnyArray::Real(a) => a.iter().copied().collect::<Vec<f32>>(),
        _ => unreachable!(),
    };
    let (test, train) = match data {
        "mnist" => ("mnist_test1k", "mnist_train5k"),
        // Lasso's tuning images for Fashion-MNIST come from the end of the test file, which the
        // evaluation (5 per class from the start) does not use.
        _ => ("fashion_test1k", "fashion_test1k"),
    };
    let (t, tl) = (read(test), labels(test));
    let (mut r, mut rl) = (read(train), labels(train));
    if train == test {
        let keep: Vec<usize> = (900..1000).collect();
        r = ImageStack::new("tuning".into(), 100, 28, 28, r.gather(&keep)).unwrap();
        rl = keep.iter().map(|&i| rl[i]).collect();
    }
    (t, tl, r, rl)
}

fn gaussian_op(m: usize, seed: u64) -> Scaled<posterior::ops::cs::Gaussian> {
    // cs::Gaussian has N(0, 1/m) entries; scaled by √m they are N(0, 1).
    Scaled::new(
        posterior::ops::cs::Gaussian::new(&[28, 28], m, seed).unwrap(),
        (m as f32).sqrt(),
    )
}

fn noisy<O: LinearOperator<Domain = f32, Range = f32>>(
    op: &O,
    x: &ArrayD<f32>,
    seed: u64,
) -> ArrayD<f32> {
    let mut y = op.apply(x.view());
    let mut rng = posterior::rng(seed);
    y.iter_mut().for_each(|v| {
        *v += 0.1 * rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, &mut rng)
    });
    y
}

fn lasso(basis: &str, m: usize, seed: u64, y: &ArrayD<f32>, lambda: f32) -> Result<ArrayD<f32>> {
    let op = gaussian_op(m, seed);
    if basis == "pixel" {
        let op = &op;
        let l = posterior::ops::norm_estimate(op, 50, 3).powi(2) * 1.02;
        let f = LeastSquares::with_lipschitz(op, y.clone(), l)?;
        let g = L1 { weight: lambda };
        let x0 = ArrayD::<f32>::zeros(IxDyn(&[28, 28]));
        let mut it = Fista::new(&f, &g, x0.view(), FistaParams::default())?;
        return Ok(Driver::new(300).run(&mut it)?.x);
    }
    let spec = match basis {
        "dct" => format!("dct:lambda={lambda},iters=300,tol=0"),
        _ => format!("wavelet:lambda={lambda},wavelet=db4,levels=2,iters=300,tol=0"),
    };
    let any = AnyOperator::Real(Box::new(op));
    let out = methods::reconstruct(
        &Spec::parse("cs")?,
        &any,
        &AnyArray::Real(y.clone()),
        &Spec::parse(&spec)?,
        RunOptions::default(),
    )?;
    Ok(methods::real_image(&out.x))
}

fn mse(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    posterior::metrics::mse(a.view(), b.view())
}

fn csgm_params(sparse: bool, restarts: usize, iters: usize) -> CsgmParams {
    let mut p = if sparse {
        CsgmParams::sparse()
    } else {
        CsgmParams::default()
    };
    p.restarts = restarts;
    p.iters = iters;
    p.sigma = Some(0.1);
    p
}

fn main() -> Result<()> {
    let a = parse();
    std::fs::create_dir_all(&a.out).ok();
    let (test, test_labels, tune, tune_labels) = load(&a.data);
    let idx = pick(&test, &test_labels, a.images.div_ceil(10));
    let idx: Vec<usize> = idx.into_iter().take(a.images).collect();
    // Lasso tuning: 5 training images (classes 0, 2, 4, 6, 8).
    let tune_idx: Vec<usize> = pick(&tune, &tune_labels, 1)
        .into_iter()
        .step_by(2)
        .collect();
    let dev = posterior_nn::cpu();
    let needs = |p: &str| a.inpaint || a.methods.iter().any(|m| m.starts_with(p));
    let vae = if needs("vae") {
        Some(resolve("vae", &a.data, None, dev.clone())?)
    } else {
        None
    };
    let gan = if needs("gan") {
        Some(resolve("gan", &a.data, None, dev)?)
    } else {
        None
    };
    let prior = |name: &str| -> &dyn GenerativePrior {
        let p = if name.starts_with("vae") { &vae } else { &gan };
        p.as_ref().expect("loaded above")
    };
    if a.inpaint {
        return inpaint(&a, &test, &idx, prior("vae"), prior("gan"));
    }
    let mut csv = String::from("data,method,m,images,mse_mean,mse_sem,seconds_mean,param\n");
    for &m in &a.ms {
        for method in &a.methods {
            let t0 = Instant::now();
            let (errs, secs, param): (Vec<f64>, Vec<f64>, String) = if let Some(basis) =
                method.strip_prefix("lasso-")
            {
                // λ from a grid, on the tuning images.
                let grid_l = [
                    0.001f32, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0,
                ];
                let score = |lambda: f32| -> f64 {
                    tune_idx
                        .par_iter()
                        .map(|&i| {
                            let x = tune.image(i);
                            let seed = 7_000_000 + (m * 1000 + i) as u64;
                            let y =
                                noisy(&gaussian_op(m, seed), &x, 8_000_000 + (m * 1000 + i) as u64);
                            mse(&lasso(basis, m, seed, &y, lambda).unwrap(), &x)
                        })
                        .sum::<f64>()
                };
                let scores: Vec<f64> = grid_l.iter().map(|&l| score(l)).collect();
                let best = (0..grid_l.len())
                    .min_by(|&p, &q| scores[p].total_cmp(&scores[q]))
                    .unwrap();
                if best == 0 || best + 1 == grid_l.len() {
                    eprintln!(
                        "note: lambda {} for {method} at m={m} is at the edge of the grid",
                        grid_l[best]
                    );
                }
                let lambda = grid_l[best];
                let r: Vec<(f64, f64)> = idx
                    .par_iter()
                    .map(|&i| {
                        let x = test.image(i);
                        let seed = (m * 1000 + i) as u64;
                        let y = noisy(&gaussian_op(m, seed), &x, 1_000_000 + (m * 1000 + i) as u64);
                        let t = Instant::now();
                        let xh = lasso(basis, m, seed, &y, lambda).unwrap();
                        (mse(&xh, &x), t.elapsed().as_secs_f64())
                    })
                    .collect();
                (
                    r.iter().map(|v| v.0).collect(),
                    r.iter().map(|v| v.1).collect(),
                    format!("lambda={lambda}"),
                )
            } else {
                let sparse = method.ends_with("-sparse");
                let p = csgm_params(sparse, a.restarts, a.iters);
                let g = prior(method);
                let r: Vec<(f64, f64)> = idx
                    .par_iter()
                    .map(|&i| {
                        let x = test.image(i);
                        let op = gaussian_op(m, (m * 1000 + i) as u64);
                        let y = noisy(&op, &x, 1_000_000 + (m * 1000 + i) as u64);
                        let t = Instant::now();
                        let res = csgm::solve(g, &op, y.view(), &p).unwrap();
                        (mse(&res.x, &x), t.elapsed().as_secs_f64())
                    })
                    .collect();
                (
                    r.iter().map(|v| v.0).collect(),
                    r.iter().map(|v| v.1).collect(),
                    format!(
                        "lambda={},restarts={},iters={}",
                        p.lambda, p.restarts, p.iters
                    ),
                )
            };
            let n = errs.len() as f64;
            let mean = errs.iter().sum::<f64>() / n;
            let sd =
                (errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
            let sec = secs.iter().sum::<f64>() / n;
            writeln!(
                csv,
                // `param` holds commas (`lambda=1,restarts=5,...`): one quoted field.
                "{},{method},{m},{},{mean:.6},{:.6},{sec:.4},\"{param}\"",
                a.data,
                errs.len(),
                sd / n.sqrt()
            )
            .unwrap();
            eprintln!(
                "{} m={m:4} {method:14} mse {mean:.4} ± {:.4}  {sec:.2} s/image  ({:.0} s)  {param}",
                a.data,
                sd / n.sqrt(),
                t0.elapsed().as_secs_f64()
            );
            let name = a
                .csv
                .clone()
                .unwrap_or_else(|| format!("csgm_{}.csv", a.data));
            std::fs::write(a.out.join(name), &csv).unwrap();
        }
    }
    Ok(())
}

/// Inpainting: 50% random pixels kept, or a centred 14x14 box removed; noise 0.02 on the kept
/// pixels. TV (the classical baseline, its default weight) and each prior; a table and an
/// example grid per mask.
fn inpaint(
    a: &Args,
    test: &ImageStack,
    idx: &[usize],
    vae: &dyn GenerativePrior,
    gan: &dyn GenerativePrior,
) -> Result<()> {
    let sigma = 0.02f32;
    let mut csv = String::from("data,mask,method,images,mse_mean,mse_sem,seconds_mean\n");
    for (mask, spec_of) in [
        (
            "random50",
            (|i: usize| format!("inpaint:keep=0.5,seed={i}")) as fn(usize) -> String,
        ),
        ("box14", |_| "inpaint:mask=box,box=14x14".to_string()),
    ] {
        let shown: Vec<usize> = idx
            .iter()
            .copied()
            .step_by((idx.len() / 8).max(1))
            .take(8)
            .collect();
        let mut rows: Vec<Vec<ArrayD<f32>>> = vec![shown.iter().map(|&i| test.image(i)).collect()];
        let observed: Vec<ArrayD<f32>> = shown
            .iter()
            .map(|&i| {
                let op = posterior::ops::build_operator(&spec_of(i), &[28, 28]).unwrap();
                let AnyOperator::Real(op) = op else {
                    unreachable!()
                };
                op.apply(test.image(i).view())
            })
            .collect();
        rows.push(observed);
        for method in ["tv", "vae", "gan", "vae-sparse", "gan-sparse"] {
            let r: Vec<(f64, f64, ArrayD<f32>)> = idx
                .par_iter()
                .map(|&i| {
                    let x = test.image(i);
                    let AnyOperator::Real(op) =
                        posterior::ops::build_operator(&spec_of(i), &[28, 28]).unwrap()
                    else {
                        unreachable!()
                    };
                    let mut y = op.apply(x.view());
                    let mut rng = posterior::rng(5_000_000 + i as u64);
                    let keep = op.measured();
                    y.iter_mut().enumerate().for_each(|(k, v)| {
                        let e: f32 =
                            rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng);
                        if keep.as_ref().is_none_or(|mk| mk.as_slice().unwrap()[k]) {
                            *v += sigma * e;
                        }
                    });
                    let t = Instant::now();
                    let xh = if method == "tv" {
                        let out = methods::reconstruct(
                            &Spec::parse("inpaint").unwrap(),
                            &AnyOperator::Real(op),
                            &AnyArray::Real(y),
                            &Spec::parse("tv").unwrap(),
                            RunOptions {
                                noise: Some(NoiseModel::Gaussian { sigma }),
                                ..RunOptions::default()
                            },
                        )
                        .unwrap();
                        methods::real_image(&out.x)
                    } else {
                        let mut p = csgm_params(method.ends_with("-sparse"), a.restarts, a.iters);
                        p.sigma = Some(sigma as f64);
                        let g = if method.starts_with("vae") { vae } else { gan };
                        csgm::solve(g, op.as_ref(), y.view(), &p).unwrap().x
                    };
                    (mse(&xh, &x), t.elapsed().as_secs_f64(), xh)
                })
                .collect();
            let n = r.len() as f64;
            let mean = r.iter().map(|v| v.0).sum::<f64>() / n;
            let sd =
                (r.iter().map(|v| (v.0 - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
            let sec = r.iter().map(|v| v.1).sum::<f64>() / n;
            writeln!(
                csv,
                "{},{mask},{method},{},{mean:.6},{:.6},{sec:.4}",
                a.data,
                r.len(),
                sd / n.sqrt()
            )
            .unwrap();
            eprintln!(
                "{} {mask} {method:11} mse {mean:.4} ± {:.4}  {sec:.2} s/image",
                a.data,
                sd / n.sqrt()
            );
            rows.push(
                shown
                    .iter()
                    .map(|i| r[idx.iter().position(|j| j == i).unwrap()].2.clone())
                    .collect(),
            );
        }
        // One grid: a column per example image, a row per [truth, observed, tv, vae, gan, vae-sparse, gan-sparse].
        let all: Vec<ArrayD<f32>> = rows.into_iter().flatten().collect();
        let views: Vec<_> = all.iter().map(|v| v.view().insert_axis(Axis(0))).collect();
        let stack = ndarray::concatenate(Axis(0), &views).unwrap();
        let g = grid(&stack, shown.len(), 1.0)?;
        posterior::io::write_png(
            a.out.join(format!("inpaint_{}_{mask}.png", a.data)),
            &g.view(),
            8,
        )?;
    }
    std::fs::write(a.out.join(format!("inpaint_{}.csv", a.data)), &csv).unwrap();
    Ok(())
}
