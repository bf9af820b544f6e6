//! The UNet variant of the denoising network (`levels >= 2`): layout, configuration files,
//! gradients, side handling, training and weight files.

use ndarray::{Array4, ArrayD, Axis, IxDyn, Slice};
use posterior::denoise::Denoiser;
use posterior_nn::LearnedDenoiser;
use posterior_nn::net::{DenoiserConfig, OutputScale};
use posterior_nn::params::ParamSet;
use posterior_nn::prior::NoiseConditionedDenoiser;
use posterior_nn::train::data::sample_batch;
use posterior_nn::train::{self, Loss, TrainConfig};
use posterior_nn::weights::{self, WeightFile};

use crate::nn::{
    check_input_vjp, check_parameter_gradient, nonlinear_params, quick_config, random, run_quiet,
    tiny_images, train_and_measure,
};

fn unet(levels: usize, depth: usize, features: usize) -> DenoiserConfig {
    DenoiserConfig {
        channels: 1,
        features,
        depth,
        levels,
        output_scale: OutputScale::One,
    }
}

/// A clearly non-linear UNet: weights 3x their (near-linear) initial size.
fn nonlinear(cfg: DenoiserConfig, seed: u64) -> LearnedDenoiser {
    let params = nonlinear_params(&cfg, seed);
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
    // The deeper, wider-reaching UNet crosses more ReLU kinks than the plain stack: its
    // central differences approach the VJP only below h = 1e-3 (5 % off at 4e-3, 0.05 %
    // at 3e-4, measured), where f32 round-off is still far below the tolerance.
    check_input_vjp(&d, &[2, 1, 8, 12], 2e-4, 5e-3);
    // Batches must have sides that are multiples of 2^levels.
    let e = d
        .denoise_batch(random(&[1, 1, 8, 10], 0, 1.0).view(), &[0.1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("multiples of 4"), "{e}");

    // The parameter gradient along a random direction.
    let params = nonlinear_params(&cfg, 9);
    let batch = sample_batch(&tiny_images(), 4, 12, 0.2, &mut posterior::rng(1)).unwrap();
    check_parameter_gradient(&cfg, Loss::Mse, &params, &batch);
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
        checkpoint_every: 30,
        ..quick_config(60)
    };
    let dir = tempfile::tempdir().unwrap();
    let dev = posterior_nn::cpu();
    let (before, after, out) = train_and_measure(&cfg, &dir.path().join("u.ckpt"));
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

/// A UNet grown by residual blocks from trained weights ([`DenoiserConfig::grown_from`])
/// computes exactly what they do, keeps every old array, and its new blocks learn; the
/// same network copies the weights; any other pair, or weights of another layout, is
/// refused.
#[test]
fn grown_unets_start_where_the_smaller_one_ends_and_then_learn() {
    let small = unet(3, 1, 4);
    let big = unet(3, 2, 4);
    let old = nonlinear_params(&small, 5);
    let grown = big
        .grown_from(&small, &old, &mut posterior::rng(9))
        .unwrap();
    assert_eq!(
        grown.count(),
        big.init(&mut posterior::rng(0)).unwrap().count()
    );
    for p in &old.params {
        assert_eq!(grown.get(&p.name).unwrap(), p, "{}", p.name);
    }
    // The new blocks: a drawn first convolution, a zero second one.
    let new0 = grown.get("enc0.1.conv0.weight").unwrap();
    assert!(new0.data.iter().any(|v| *v != 0.0));
    for name in [
        "enc0.1.conv1.weight",
        "body2.1.conv1.weight",
        "dec1.1.conv1.bias",
    ] {
        assert!(
            grown.get(name).unwrap().data.iter().all(|v| *v == 0.0),
            "{name}"
        );
    }
    let a = LearnedDenoiser::new(small, old.clone(), posterior_nn::cpu(), "a").unwrap();
    let b = LearnedDenoiser::new(big, grown.clone(), posterior_nn::cpu(), "b").unwrap();
    let y = random(&[20, 28], 3, 1.0).mapv(|v| v + 0.5);
    for sigma in [0.02, 0.2] {
        let da = a.run(y.view(), sigma).unwrap();
        let db = b.run(y.view(), sigma).unwrap();
        assert_eq!(da, db, "σ = {sigma}");
    }
    // The zero blocks still get gradients (through their second convolution), so a
    // short fine-tuning run moves them.
    let set = tiny_images();
    let cfg = TrainConfig {
        net: big,
        patch: 16,
        ..quick_config(4)
    };
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("g.ckpt");
    train::Checkpoint::start(&cfg, &set, grown.clone())
        .unwrap()
        .save(&ck)
        .unwrap();
    let out = run_quiet(&cfg, &set, &ck, true).unwrap();
    assert_eq!(out.checkpoint.step, 4);
    let moved = out.checkpoint.params.get("enc0.1.conv1.weight").unwrap();
    assert!(moved.data.iter().any(|v| *v != 0.0));
    // Equal networks copy; other pairs are refused.
    assert_eq!(
        small
            .grown_from(&small, &old, &mut posterior::rng(1))
            .unwrap(),
        old
    );
    for (to, from) in [
        (small, big),
        (unet(3, 2, 8), small),
        (unet(2, 2, 4), small),
        (
            DenoiserConfig {
                output_scale: OutputScale::Sigma,
                ..big
            },
            small,
        ),
    ] {
        let p = from.init(&mut posterior::rng(0)).unwrap();
        let err = to
            .grown_from(&from, &p, &mut posterior::rng(1))
            .unwrap_err();
        assert!(err.to_string().contains("cannot start from"), "{err}");
    }
    let plain = DenoiserConfig {
        levels: 1,
        depth: 3,
        ..small
    };
    let deeper = DenoiserConfig { depth: 4, ..plain };
    let p = plain.init(&mut posterior::rng(0)).unwrap();
    let err = deeper
        .grown_from(&plain, &p, &mut posterior::rng(1))
        .unwrap_err();
    assert!(err.to_string().contains("cannot start from"), "{err}");
    // Weights that are not the stated network's, and a start of another layout.
    let err = big
        .grown_from(&small, &grown, &mut posterior::rng(1))
        .unwrap_err();
    assert!(err.to_string().contains("the initial weights"), "{err}");
    let err = train::Checkpoint::start(&cfg, &set, old).unwrap_err();
    assert!(err.to_string().contains("the initial weights"), "{err}");
    let mut bad = grown;
    bad.params[0].data[0] = f32::NAN;
    let err = train::Checkpoint::start(&cfg, &set, bad).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
}
