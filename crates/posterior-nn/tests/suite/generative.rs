//! The generative priors: training lowers the loss, resume is exact, the decoder's VJP matches
//! finite differences, weight files round-trip and bad ones are refused.

use std::path::Path;

use ndarray::{Array2, ArrayD, IxDyn};
use posterior_nn::generative::digits::ImageStack;
use posterior_nn::generative::gan::GanConfig;
use posterior_nn::generative::train::{GenCheckpoint, GenEvent, GenTrainConfig, train_generative};
use posterior_nn::generative::vae::VaeConfig;
use posterior_nn::generative::{GenModel, GenPrior};
use posterior_nn::prior::GenerativePrior;

/// 64 images 8x8: a bright square at one of four places plus mild texture.
fn toy_data() -> ImageStack {
    let mut data = Vec::new();
    for i in 0..64usize {
        let (oy, ox) = [(0, 0), (0, 4), (4, 0), (4, 4)][i % 4];
        for y in 0..8 {
            for x in 0..8 {
                let inside = (oy..oy + 4).contains(&y) && (ox..ox + 4).contains(&x);
                let v = if inside { 0.9 } else { 0.05 }
                    + 0.05 * (((i * 7 + y * 3 + x) % 5) as f32 / 5.0);
                data.push(v);
            }
        }
    }
    ImageStack::new("toy".into(), 64, 8, 8, data).unwrap()
}

fn vae_config() -> GenTrainConfig {
    let mut c = GenTrainConfig::vae(VaeConfig {
        height: 8,
        width: 8,
        hidden: 32,
        latent: 3,
    });
    c.steps = 80;
    c.batch = 16;
    c.lr = 3e-3;
    c.eval_every = 0;
    c.checkpoint_every = 1000;
    c
}

fn gan_config() -> GenTrainConfig {
    let mut c = GenTrainConfig::gan(GanConfig {
        height: 8,
        width: 8,
        latent: 3,
        features: 4,
    });
    c.steps = 6;
    c.batch = 8;
    c.eval_every = 0;
    c.checkpoint_every = 1000;
    c
}

fn run(
    c: &GenTrainConfig,
    ckpt: &Path,
    resume: bool,
) -> (GenCheckpoint, Vec<Vec<(&'static str, f64)>>) {
    let data = toy_data();
    let mut losses = Vec::new();
    let mut on = |e: &GenEvent| {
        if let GenEvent::Step { losses: l, .. } = e {
            losses.push(l.clone());
        }
    };
    let out = train_generative(
        c,
        &data,
        None,
        &posterior_nn::cpu(),
        ckpt,
        resume,
        &mut on,
        None,
    )
    .unwrap();
    (out.checkpoint, losses)
}

#[test]
fn vae_training_lowers_the_negative_elbo() {
    // Binary images, so the Bernoulli likelihood's floor is 0 and the loss can fall far.
    let dir = tempfile::tempdir().unwrap();
    let data = toy_data();
    let binary = ImageStack::new(
        "binary".into(),
        64,
        8,
        8,
        data.data.iter().map(|v| v.round()).collect(),
    )
    .unwrap();
    let mut losses = Vec::new();
    let mut on = |e: &GenEvent| {
        if let GenEvent::Step { losses: l, .. } = e {
            losses.push(l.clone());
        }
    };
    let ckpt = dir.path().join("v.ckpt");
    let mut c = vae_config();
    c.steps = 300;
    c.lr = 1e-2;
    train_generative(
        &c,
        &binary,
        None,
        &posterior_nn::cpu(),
        &ckpt,
        false,
        &mut on,
        None,
    )
    .unwrap();
    let mean =
        |r: std::ops::Range<usize>| r.clone().map(|i| losses[i][0].1).sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(0..10), mean(290..300));
    assert!(last < 0.5 * first, "neg ELBO {first} -> {last}");
}

#[test]
fn gan_training_moves_samples_towards_the_data() {
    // The mean distance from each training image to its nearest sample falls with training.
    let dir = tempfile::tempdir().unwrap();
    let mut c = gan_config();
    c.steps = 300;
    c.lr = 2e-3;
    let data = toy_data();
    let nn = |ck: &GenCheckpoint| {
        let prior = ck.prior(&posterior_nn::cpu()).unwrap();
        let mut rng = posterior::rng(5);
        let z = Array2::from_shape_fn((64, 3), |_| {
            rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, &mut rng)
        });
        let s = prior.decode(z.view()).unwrap();
        let s = s.as_slice().unwrap();
        (0..data.n)
            .map(|i| {
                let x = &data.data[i * 64..(i + 1) * 64];
                (0..64)
                    .map(|j| {
                        x.iter()
                            .zip(&s[j * 64..(j + 1) * 64])
                            .map(|(a, b)| (a - b).powi(2))
                            .sum::<f32>()
                    })
                    .fold(f32::INFINITY, f32::min)
            })
            .sum::<f32>()
            / data.n as f32
    };
    let before = nn(&GenCheckpoint::fresh(&c, "toy (64 images)".into()).unwrap());
    let (ck, losses) = run(&c, &dir.path().join("g.ckpt"), false);
    assert!(losses.iter().all(|l| l.iter().all(|(_, v)| v.is_finite())));
    let after = nn(&ck);
    assert!(
        after < 0.5 * before,
        "nearest-sample distance {before} -> {after}"
    );
}

#[test]
fn resume_continues_bit_for_bit() {
    for c in [vae_config(), gan_config()] {
        let mut c = c;
        c.steps = 6;
        c.checkpoint_every = 3;
        let dir = tempfile::tempdir().unwrap();
        let (straight, _) = run(&c, &dir.path().join("a.ckpt"), false);
        let mut half = c.clone();
        half.steps = 3;
        run(&half, &dir.path().join("b.ckpt"), false);
        let (resumed, losses) = run(&c, &dir.path().join("b.ckpt"), true);
        assert_eq!(losses.len(), 3);
        assert_eq!(straight.step, 6);
        assert_eq!(straight, resumed, "resumed run differs ({:?})", c.net);
        // A different setting cannot resume.
        let mut other = c.clone();
        other.lr *= 2.0;
        let err = train_generative(
            &other,
            &toy_data(),
            None,
            &posterior_nn::cpu(),
            &dir.path().join("b.ckpt"),
            true,
            &mut |_| {},
            None,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("other settings"), "{err}");
        // The same file name and count with other content cannot resume either.
        let mut edited = toy_data();
        edited.data[10] += 0.01;
        let err = train_generative(
            &c,
            &edited,
            None,
            &posterior_nn::cpu(),
            &dir.path().join("b.ckpt"),
            true,
            &mut |_| {},
            None,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("other content"), "{err}");
    }
}

fn fd_check(prior: &GenPrior, k: usize, seed: u64) {
    let mut rng = posterior::rng(seed);
    let mut normal =
        || rand_distr::Distribution::<f32>::sample(&rand_distr::StandardNormal, &mut rng);
    let z = Array2::from_shape_fn((2, k), |_| normal());
    let r = ArrayD::from_shape_fn(IxDyn(&[2, 8, 8]), |_| normal());
    let (g, jt) = prior.vjp(z.view(), r.view()).unwrap();
    assert_eq!(g, prior.decode(z.view()).unwrap());
    let f = |z: &Array2<f32>| -> f64 {
        let g = prior.decode(z.view()).unwrap();
        g.iter()
            .zip(r.iter())
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum()
    };
    let h = 1e-2f32;
    for b in 0..2 {
        for i in 0..k {
            let (mut zp, mut zm) = (z.clone(), z.clone());
            zp[[b, i]] += h;
            zm[[b, i]] -= h;
            let fd = (f(&zp) - f(&zm)) / (2.0 * h as f64);
            let an = jt[[b, i]] as f64;
            assert!(
                (fd - an).abs() <= 2e-2 * an.abs().max(fd.abs()) + 2e-3,
                "{}: d/dz[{b},{i}] analytic {an} vs finite difference {fd}",
                prior.describe()
            );
        }
    }
}

#[test]
fn decoder_vjp_matches_finite_differences() {
    let v = VaeConfig {
        height: 8,
        width: 8,
        hidden: 16,
        latent: 3,
    };
    let p = v.init(&mut posterior::rng(1)).unwrap();
    fd_check(
        &GenPrior::new(GenModel::Vae(v), p, posterior_nn::cpu(), "vae").unwrap(),
        3,
        2,
    );
    let g = GanConfig {
        height: 8,
        width: 8,
        latent: 3,
        features: 4,
    };
    let p = g.init_generator(&mut posterior::rng(1)).unwrap();
    fd_check(
        &GenPrior::new(GenModel::Gan(g), p, posterior_nn::cpu(), "gan").unwrap(),
        3,
        3,
    );
}

#[test]
fn weights_round_trip_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for c in [vae_config(), gan_config()] {
        let mut c = c;
        c.steps = 2;
        let (ck, _) = run(&c, &dir.path().join("x.ckpt"), false);
        let path = dir.path().join("w.safetensors");
        ck.save_weights(&path).unwrap();
        let a = ck.prior(&posterior_nn::cpu()).unwrap();
        let b = GenPrior::from_file(&path, posterior_nn::cpu()).unwrap();
        let z = Array2::from_shape_fn((3, 3), |(i, j)| (i as f32 - j as f32) * 0.3);
        assert_eq!(a.decode(z.view()).unwrap(), b.decode(z.view()).unwrap());
        // The encoder exists for the VAE only.
        let x = ArrayD::from_elem(IxDyn(&[2, 8, 8]), 0.5f32);
        assert_eq!(
            b.encode_mean(x.view()).unwrap().is_some(),
            matches!(c.net, posterior_nn::generative::train::GenNet::Vae(_))
        );
        // Wrong latent width, wrong image size.
        let e = b.decode(Array2::zeros((1, 4)).view()).unwrap_err();
        assert!(e.to_string().contains("latent"), "{e}");
        let e = b
            .vjp(z.view(), ArrayD::zeros(IxDyn(&[3, 7, 8])).view())
            .unwrap_err();
        assert!(e.to_string().contains("cotangent"), "{e}");
        // A truncated file.
        let bytes = std::fs::read(&path).unwrap();
        let e = GenPrior::from_bytes(&bytes[..bytes.len() / 2], "cut", posterior_nn::cpu())
            .err()
            .unwrap();
        assert!(!e.to_string().is_empty());
    }
    // A denoiser's weights are not a generative prior.
    let den = posterior_nn::LearnedDenoiser::shipped(posterior_nn::cpu()).unwrap();
    let path = dir.path().join("den.safetensors");
    posterior_nn::weights::save(
        &path,
        &[("", den.params())],
        &[
            ("posterior.kind", den.config().kind().into()),
            (
                "posterior.config",
                serde_json::to_string(&den.config()).unwrap(),
            ),
        ],
    )
    .unwrap();
    let e = GenPrior::from_file(&path, posterior_nn::cpu())
        .err()
        .unwrap();
    assert!(e.to_string().contains("generative model"), "{e}");
}

#[test]
fn spectral_normalisation_bounds_the_layer_gain() {
    let c = GanConfig {
        height: 8,
        width: 8,
        latent: 3,
        features: 4,
    };
    let mut rng = posterior::rng(4);
    let d = c.init_discriminator(&mut rng).unwrap();
    let mut sn = c.init_sn_state(&mut rng).unwrap();
    let mut vs = Vec::new();
    for _ in 0..100 {
        vs = c.power_iteration(&d, &mut sn);
    }
    // The second convolution seen as a 8 x 64 matrix W: σ = uᵀ W v is its largest singular value,
    // so ‖W x‖ ≤ σ ‖x‖ for every x, with near-equality at v.
    let w = &d.params[2].data;
    let (rows, cols) = (8, 64);
    let apply = |x: &[f32]| -> f32 {
        (0..rows)
            .map(|r| {
                w[r * cols..(r + 1) * cols]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    .powi(2)
            })
            .sum::<f32>()
            .sqrt()
    };
    let sigma = apply(&vs[1]);
    for t in 0..200 {
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 31 + t * 17) % 23) as f32 - 11.0)
            .collect();
        let n = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            apply(&x) <= sigma * n * 1.001,
            "gain above the estimated spectral norm"
        );
    }
}

#[test]
fn vae_loss_falls_on_a_small_mnist_subset() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/digits/mnist_train5k.npy"
    );
    let data = ImageStack::load(Path::new(root)).unwrap().head(256);
    let mut c = GenTrainConfig::vae(VaeConfig::default());
    c.steps = 40;
    c.batch = 32;
    c.eval_every = 0;
    c.checkpoint_every = 1000;
    let dir = tempfile::tempdir().unwrap();
    let mut losses = Vec::new();
    let mut on = |e: &GenEvent| {
        if let GenEvent::Step { losses: l, .. } = e {
            losses.push(l[0].1);
        }
    };
    train_generative(
        &c,
        &data,
        None,
        &posterior_nn::cpu(),
        &dir.path().join("m.ckpt"),
        false,
        &mut on,
        None,
    )
    .unwrap();
    let (first, last) = (
        losses[..5].iter().sum::<f64>() / 5.0,
        losses[35..].iter().sum::<f64>() / 5.0,
    );
    // From 784 ln 2 ≈ 543 nats (a uniform decoder) towards ~100.
    assert!(last < 0.7 * first, "MNIST neg ELBO {first} -> {last}");
}
