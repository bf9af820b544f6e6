//! The UNet variant of the denoising network (`levels >= 2`): layout, configuration files,
//! gradients, side handling, training and weight files.

use ndarray::{Array4, ArrayD, Axis, IxDyn, Slice};
use posterior::denoise::Denoiser;
use posterior_nn::LearnedDenoiser;
use posterior_nn::net::DenoiserConfig;
use posterior_nn::params::ParamSet;
use posterior_nn::prior::NoiseConditionedDenoiser;
use posterior_nn::train::data::sample_batch;
use posterior_nn::train::{self, TrainConfig, batch_gradient};
use posterior_nn::weights::{self, WeightFile};
use rand::RngExt;

use crate::nn::{dot, random, run_quiet, tiny_images};

fn unet(levels: usize, depth: usize, features: usize) -> DenoiserConfig {
    DenoiserConfig {
        channels: 1,
        features,
        depth,
        levels,
    }
}

/// A clearly non-linear UNet: weights 3x their (near-linear) initial size.
fn nonlinear(cfg: DenoiserConfig, seed: u64) -> LearnedDenoiser {
    let mut params = cfg.init(&mut posterior::rng(seed)).unwrap();
    for p in &mut params.params {
        p.data.iter_mut().for_each(|v| *v *= 3.0);
    }
    LearnedDenoiser::new(cfg, params, posterior_nn::cpu(), "test").unwrap()
}

#[test]
fn unet_layout_kind_and_configuration() {
    let cfg = unet(3, 2, 4);
    let p = cfg.init(&mut posterior::rng(0)).unwrap();
    // Parameter count from the architecture, written out level by level.
    let f = [4usize, 8, 16];
    let conv = |cin: usize, cout: usize, k: usize| (cin * k * k + 1) * cout;
    let blocks = |l: usize| 2 * 2 * conv(f[l], f[l], 3);
    let expected = conv(5, 4, 3)
        + blocks(0)
        + conv(4 * f[0], f[1], 1)
        + blocks(1)
        + conv(4 * f[1], f[2], 1)
        + blocks(2)
        + conv(f[2], 4 * f[1], 1)
        + blocks(1)
        + conv(f[1], 4 * f[0], 1)
        + blocks(0)
        + conv(4, 4, 3);
    assert_eq!(p.count(), expected);
    let names: Vec<&str> = p.params.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names[0], "head.weight");
    assert!(names.contains(&"down1.weight") && names.contains(&"body2.1.conv1.bias"));
    assert_eq!(names[names.len() - 1], "tail.bias");
    assert_eq!(p.params[0].shape, vec![4, 5, 3, 3]);
    // Kinds, side multiples, summaries.
    assert_eq!(cfg.kind(), DenoiserConfig::UNET_KIND);
    assert_eq!(DenoiserConfig::default().kind(), DenoiserConfig::KIND);
    assert_eq!(cfg.side_multiple(), 8);
    assert_eq!(DenoiserConfig::default().side_multiple(), 2);
    assert_eq!(
        cfg.summary(),
        "3 levels of 2 residual blocks, 4-8-16 features"
    );
    assert_eq!(
        DenoiserConfig::default().summary(),
        "12 layers of 48 features"
    );
    // Files written before UNets existed carry no `levels` and read as the plain stack,
    // and the plain stack still writes none; a UNet writes and reads its levels.
    let old: DenoiserConfig =
        serde_json::from_str(r#"{"channels":1,"depth":12,"features":48}"#).unwrap();
    assert_eq!(old, DenoiserConfig::default());
    let plain = serde_json::to_string(&DenoiserConfig::default()).unwrap();
    assert!(!plain.contains("levels"), "{plain}");
    let text = serde_json::to_string(&cfg).unwrap();
    assert!(text.contains(r#""levels":3"#), "{text}");
    assert_eq!(serde_json::from_str::<DenoiserConfig>(&text).unwrap(), cfg);
    // Bad shapes are refused.
    for bad in [
        unet(0, 1, 4),
        unet(DenoiserConfig::MAX_LEVELS + 1, 1, 4),
        unet(2, 0, 4),
        unet(1, 1, 4),
        unet(6, 4, 1 << 12),
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    unet(2, 1, 4).validate().unwrap();
}

#[test]
fn unet_vjp_and_parameter_gradient_match_finite_differences() {
    let cfg = unet(2, 1, 4);
    let d = nonlinear(cfg, 3);
    let shape = [2, 1, 8, 12];
    let y = random(&shape, 1, 1.0).mapv(|v| v + 0.5);
    let r = random(&shape, 2, 2.0);
    let v = random(&shape, 4, 2.0);
    let sigma = [0.1f32, 0.3];
    let (dy, g) = d.vjp(y.view(), &sigma, r.view()).unwrap();
    assert_eq!(dy, d.denoise_batch(y.view(), &sigma).unwrap());
    // The deeper, wider-reaching UNet crosses more ReLU kinks than the plain stack: its
    // central differences approach the VJP only below h = 1e-3 (5 % off at 4e-3, 0.05 %
    // at 3e-4, measured), where f32 round-off is still far below the tolerance.
    let h = 2e-4f32;
    let fp = d.denoise_batch((&y + &(&v * h)).view(), &sigma).unwrap();
    let fm = d.denoise_batch((&y - &(&v * h)).view(), &sigma).unwrap();
    let fd = dot(&r, &((&fp - &fm) / (2.0 * h)));
    let ad = dot(&g, &v);
    let rel = (fd - ad).abs() / ad.abs().max(1e-6);
    assert!(rel < 5e-3, "finite difference {fd} vs VJP {ad} (rel {rel})");
    assert!((ad - dot(&r, &v)).abs() > 1e-3);
    // Batches must have sides that are multiples of 2^levels.
    let e = d
        .denoise_batch(random(&[1, 1, 8, 10], 0, 1.0).view(), &[0.1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("multiples of 4"), "{e}");

    // The parameter gradient along a random direction.
    let mut params = cfg.init(&mut posterior::rng(9)).unwrap();
    for p in &mut params.params {
        p.data.iter_mut().for_each(|v| *v *= 3.0);
    }
    let batch = sample_batch(&tiny_images(), 4, 12, 0.2, &mut posterior::rng(1)).unwrap();
    let dev = posterior_nn::cpu();
    let (_, g) = batch_gradient(&cfg, &params, &batch, &dev).unwrap();
    let mut rng = posterior::rng(5);
    let mut dir = params.clone();
    for p in &mut dir.params {
        p.data
            .iter_mut()
            .for_each(|v| *v = rng.random::<f32>() - 0.5);
    }
    let shifted = |t: f32| {
        let mut q = params.clone();
        for (p, d) in q.params.iter_mut().zip(&dir.params) {
            p.data
                .iter_mut()
                .zip(&d.data)
                .for_each(|(a, b)| *a += t * b);
        }
        batch_gradient(&cfg, &q, &batch, &dev).unwrap().0
    };
    let h = 1e-3;
    let fd = (shifted(h) - shifted(-h)) / (2.0 * h as f64);
    let ad: f64 = g
        .params
        .iter()
        .zip(&dir.params)
        .flat_map(|(a, b)| a.data.iter().zip(&b.data))
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum();
    let rel = (fd - ad).abs() / ad.abs().max(1e-9);
    assert!(
        rel < 2e-2,
        "finite difference {fd} vs gradient {ad} (rel {rel})"
    );
}

/// Mirror index without repeating the ends, for pads shorter than the signal.
fn reflect(i: usize, n: usize) -> usize {
    if i < n { i } else { 2 * (n - 1) - i }
}

#[test]
fn unet_extends_other_sides_by_mirroring() {
    let d = nonlinear(unet(3, 1, 4), 5);
    let (h, w) = (11, 13);
    let y = random(&[h, w], 7, 1.0).mapv(|v| v + 0.5);
    let out = d.run(y.view(), 0.1).unwrap();
    assert_eq!(out.shape(), &[h, w]);
    // The same as the network on the image mirrored out to 16x16, cropped.
    let padded = Array4::from_shape_fn((1, 1, 16, 16), |(_, _, i, j)| {
        y[[reflect(i, h), reflect(j, w)]]
    })
    .into_dyn();
    let full = d.denoise_batch(padded.view(), &[0.1]).unwrap();
    let crop = full
        .index_axis(Axis(0), 0)
        .index_axis(Axis(0), 0)
        .slice_axis(Axis(0), Slice::from(..h))
        .slice_axis(Axis(1), Slice::from(..w))
        .to_owned()
        .into_dyn();
    let diff = (&crop - &out).mapv(f32::abs);
    assert!(diff.iter().all(|v| *v < 1e-6), "{}", diff.sum());
    // Images smaller than the pad fold the mirror over again and still work.
    let small = random(&[3, 5], 8, 1.0);
    let x = d.denoise(small.view(), 0.1).unwrap();
    assert_eq!(x.shape(), &[3, 5]);
    assert!(x.iter().all(|v| v.is_finite()));
    let one = ArrayD::from_elem(IxDyn(&[1, 1]), 0.5f32);
    assert!(d.run(one.view(), 0.1).unwrap()[[0, 0]].is_finite());
}

#[test]
fn unet_trains_and_round_trips_through_weight_files() {
    let set = tiny_images();
    let cfg = TrainConfig {
        net: unet(2, 1, 6),
        steps: 60,
        batch: 8,
        patch: 16,
        lr: 2e-3,
        warmup: 2,
        sigma_max: 0.2,
        seed: 7,
        validate_every: 0,
        checkpoint_every: 30,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("u.ckpt");
    let dev = posterior_nn::cpu();
    let eval = sample_batch(&set, 32, 16, 0.2, &mut posterior::rng(999)).unwrap();
    let init = cfg.net.init(&mut posterior::rng(cfg.seed)).unwrap();
    let before = batch_gradient(&cfg.net, &init, &eval, &dev).unwrap().0;
    let out = run_quiet(&cfg, &set, &ck, false).unwrap();
    let after = batch_gradient(&cfg.net, &out.checkpoint.params, &eval, &dev)
        .unwrap()
        .0;
    // 60 steps take off more than a tenth of the noise power (a broken update: none).
    assert!(after < 0.9 * before, "loss {before} -> {after}");
    // Patches must be multiples of 2^levels.
    let e = run_quiet(
        &TrainConfig {
            patch: 14,
            ..cfg.clone()
        },
        &set,
        &dir.path().join("bad.ckpt"),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("multiple of 4"), "{e}");
    // The weight file names the UNet and loads back to the same network.
    let w = dir.path().join("u.safetensors");
    train::save_weights(&w, &out.checkpoint).unwrap();
    let file = WeightFile::read(&w).unwrap();
    assert_eq!(
        file.meta("posterior.kind").unwrap(),
        DenoiserConfig::UNET_KIND
    );
    let d = LearnedDenoiser::load(&w, dev.clone()).unwrap();
    assert_eq!(d.config(), &cfg.net);
    assert_eq!(d.params(), &out.checkpoint.params);
    assert!(
        d.describe().contains("unet-residual 2x1x6"),
        "{}",
        d.describe()
    );
    // A file whose name and configuration disagree is refused either way.
    let mislabelled = |kind: &str, net: &DenoiserConfig, params: &ParamSet| {
        let b = weights::to_bytes(
            &[("", params)],
            &[
                ("posterior.kind", kind.into()),
                ("posterior.config", serde_json::to_string(net).unwrap()),
            ],
        )
        .unwrap();
        LearnedDenoiser::from_file(&WeightFile::from_bytes(&b, "m").unwrap(), dev.clone())
            .unwrap_err()
            .to_string()
    };
    let e = mislabelled(DenoiserConfig::KIND, &cfg.net, &out.checkpoint.params);
    assert!(e.contains("which is a `unet-residual`"), "{e}");
    let plain = DenoiserConfig::default();
    let e = mislabelled(
        DenoiserConfig::UNET_KIND,
        &plain,
        &plain.init(&mut posterior::rng(0)).unwrap(),
    );
    assert!(e.contains("which is a `ffdnet-residual`"), "{e}");
    let e = mislabelled("dcgan", &cfg.net, &out.checkpoint.params);
    assert!(e.contains("expected `ffdnet-residual`"), "{e}");
}
