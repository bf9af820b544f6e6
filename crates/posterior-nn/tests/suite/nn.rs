//! Behaviour of the neural stack: gradients, training, weights, the learned denoiser.

use ndarray::{Array2, ArrayD, IxDyn};
use posterior::denoise::Denoiser;
use posterior_nn::LearnedDenoiser;
use posterior_nn::net::{DenoiserConfig, OutputScale};
use posterior_nn::params::ParamSet;
use posterior_nn::prior::NoiseConditionedDenoiser;
use posterior_nn::train::data::{Batch, ImageSet, sample_batch};
use posterior_nn::train::{
    self, Checkpoint, Loss, TrainConfig, batch_gradient, batch_gradient_with, step_rng,
};
use posterior_nn::weights::{self, WeightFile};
use rand::RngExt;

fn tiny() -> DenoiserConfig {
    DenoiserConfig {
        channels: 1,
        features: 6,
        depth: 3,
        levels: 1,
        output_scale: OutputScale::One,
    }
}

pub(crate) fn random(shape: &[usize], seed: u64, scale: f32) -> ArrayD<f32> {
    let mut rng = posterior::rng(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| scale * (rng.random::<f32>() - 0.5))
}

pub(crate) fn tiny_images() -> ImageSet {
    let a = Array2::from_shape_fn((40, 36), |(i, j)| {
        0.5 + 0.4 * ((i as f32 / 5.0).sin() * (j as f32 / 7.0).cos())
    });
    let b = Array2::from_shape_fn(
        (32, 48),
        |(i, j)| if (i / 8 + j / 8) % 2 == 0 { 0.2 } else { 0.8 },
    );
    ImageSet::from_images(vec!["a".into(), "b".into()], vec![a, b])
}

pub(crate) fn dot(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

#[test]
fn denoiser_vjp_matches_finite_differences() {
    let cfg = tiny();
    let params = nonlinear_params(&cfg, 3);
    let d = LearnedDenoiser::new(cfg, params, posterior_nn::cpu(), "test").unwrap();
    // f32 central differences through ReLU kinks: h trades truncation (kinks crossed)
    // against round-off; 1e-2 relative is what a correct VJP reaches here, a wrong one
    // (e.g. a missing residual branch or transposed layout) is off by O(1).
    check_input_vjp(&d, &[2, 1, 8, 10], 4e-3, 1e-2);
}

/// Check the denoiser's VJP at a random batch of `shape`: its value is the denoised batch,
/// and `<J^T r, v>` matches the central difference `<r, (D(y + h v) − D(y − h v)) / 2h>` to
/// `tol` relative, and differs from `<r, v>` (the Jacobian is I − (noise branch), not I).
pub(crate) fn check_input_vjp(d: &LearnedDenoiser, shape: &[usize], h: f32, tol: f64) {
    let y = random(shape, 1, 1.0).mapv(|v| v + 0.5);
    let r = random(shape, 2, 2.0);
    let v = random(shape, 4, 2.0);
    let sigma = [0.1f32, 0.3];
    let (dy, g) = d.vjp(y.view(), &sigma, r.view()).unwrap();
    assert_eq!(dy, d.denoise_batch(y.view(), &sigma).unwrap());
    let fp = d.denoise_batch((&y + &(&v * h)).view(), &sigma).unwrap();
    let fm = d.denoise_batch((&y - &(&v * h)).view(), &sigma).unwrap();
    let fd = dot(&r, &((&fp - &fm) / (2.0 * h)));
    let ad = dot(&g, &v);
    let rel = (fd - ad).abs() / ad.abs().max(1e-6);
    assert!(rel < tol, "finite difference {fd} vs VJP {ad} (rel {rel})");
    assert!((ad - dot(&r, &v)).abs() > 1e-3);
}

#[test]
fn parameter_gradient_matches_finite_differences() {
    let cfg = tiny();
    let params = nonlinear_params(&cfg, 9);
    let set = tiny_images();
    let batch = sample_batch(&set, 4, 12, 0.2, &mut posterior::rng(1)).unwrap();
    check_parameter_gradient(&cfg, Loss::Mse, &params, &batch);
}

/// Check the gradient of the batch loss against its central difference (h = 1e-3) along a
/// random direction in parameter space, to 2 % relative; the gradient and the direction.
pub(crate) fn check_parameter_gradient(
    cfg: &DenoiserConfig,
    loss: Loss,
    params: &ParamSet,
    batch: &Batch,
) -> (ParamSet, ParamSet) {
    check_parameter_gradient_at(cfg, loss, params, batch, 1e-3)
}

/// [`check_parameter_gradient`] with the finite-difference step `h`.
pub(crate) fn check_parameter_gradient_at(
    cfg: &DenoiserConfig,
    loss: Loss,
    params: &ParamSet,
    batch: &Batch,
    h: f32,
) -> (ParamSet, ParamSet) {
    let dev = posterior_nn::cpu();
    let (_, g) = batch_gradient_with(cfg, loss, params, batch, &dev).unwrap();
    let dir = random_direction(params, 5);
    let fd = loss_difference(cfg, loss, params, batch, &dir, h);
    let ad = dot_params(&g, &dir);
    let rel = (fd - ad).abs() / ad.abs().max(1e-9);
    assert!(
        rel < 2e-2,
        "finite difference {fd} vs gradient {ad} (rel {rel})"
    );
    (g, dir)
}

/// Freshly initialised parameters scaled 3x: a clearly non-linear network (the
/// initialisation is near the identity, with a small last layer).
pub(crate) fn nonlinear_params(cfg: &DenoiserConfig, seed: u64) -> ParamSet {
    let mut params = cfg.init(&mut posterior::rng(seed)).unwrap();
    for p in &mut params.params {
        p.data.iter_mut().for_each(|v| *v *= 3.0);
    }
    params
}

/// A direction in parameter space with values uniform in [−0.5, 0.5), seeded.
pub(crate) fn random_direction(params: &ParamSet, seed: u64) -> ParamSet {
    let mut rng = posterior::rng(seed);
    let mut dir = params.clone();
    for p in &mut dir.params {
        p.data
            .iter_mut()
            .for_each(|v| *v = rng.random::<f32>() - 0.5);
    }
    dir
}

/// `Σ a·b` over every parameter.
pub(crate) fn dot_params(a: &ParamSet, b: &ParamSet) -> f64 {
    a.params
        .iter()
        .zip(&b.params)
        .flat_map(|(a, b)| a.data.iter().zip(&b.data))
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum()
}

/// The central difference of the batch loss along `dir` with step `h`.
pub(crate) fn loss_difference(
    cfg: &DenoiserConfig,
    loss: Loss,
    params: &ParamSet,
    batch: &Batch,
    dir: &ParamSet,
    h: f32,
) -> f64 {
    let dev = posterior_nn::cpu();
    let shifted = |t: f32| {
        let mut q = params.clone();
        for (p, d) in q.params.iter_mut().zip(&dir.params) {
            p.data
                .iter_mut()
                .zip(&d.data)
                .for_each(|(a, b)| *a += t * b);
        }
        batch_gradient_with(cfg, loss, &q, batch, &dev).unwrap().0
    };
    (shifted(h) - shifted(-h)) / (2.0 * h as f64)
}

pub(crate) fn quick_config(steps: u64) -> TrainConfig {
    TrainConfig {
        net: DenoiserConfig {
            channels: 1,
            features: 8,
            depth: 4,
            levels: 1,
            output_scale: OutputScale::One,
        },
        steps,
        batch: 8,
        patch: 16,
        lr: 2e-3,
        warmup: 2,
        sigma_max: 0.2,
        seed: 7,
        validate_every: 0,
        checkpoint_every: 3,
        ..TrainConfig::default()
    }
}

/// `train_denoiser` on the CPU without validation, events or interruption.
pub(crate) fn run_quiet(
    cfg: &TrainConfig,
    set: &ImageSet,
    path: &std::path::Path,
    resume: bool,
) -> posterior::error::Result<train::Trained> {
    let dev = posterior_nn::cpu();
    train::train_denoiser(cfg, set, None, &dev, path, resume, &mut |_| {}, None)
}

/// Train `cfg` from scratch on the tiny images (checkpoint at `ck`): the MSE on a fixed
/// evaluation batch (not one of the training draws) before and after, and the run.
pub(crate) fn train_and_measure(
    cfg: &TrainConfig,
    ck: &std::path::Path,
) -> (f64, f64, train::Trained) {
    let set = tiny_images();
    let dev = posterior_nn::cpu();
    let eval = sample_batch(&set, 32, 16, 0.2, &mut posterior::rng(999)).unwrap();
    let init = cfg.net.init(&mut posterior::rng(cfg.seed)).unwrap();
    let before = batch_gradient(&cfg.net, &init, &eval, &dev).unwrap().0;
    let out = run_quiet(cfg, &set, ck, false).unwrap();
    let after = batch_gradient(&cfg.net, &out.checkpoint.params, &eval, &dev)
        .unwrap()
        .0;
    (before, after, out)
}

#[test]
fn a_few_training_steps_lower_the_loss() {
    let cfg = quick_config(60);
    let dir = tempfile::tempdir().unwrap();
    let (before, after, out) = train_and_measure(&cfg, &dir.path().join("t.ckpt"));
    // The untrained network is close to the identity (loss = noise power); 60 steps of a
    // 4-layer net remove a sixth of it (measured 0.853), a broken update none.
    assert!(after < 0.9 * before, "loss {before} -> {after}");
    assert_eq!(out.checkpoint.step, 60);
}

#[test]
fn resume_continues_bit_for_bit() {
    let set = tiny_images();
    let dev = posterior_nn::cpu();
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("a.ckpt");
    let split = dir.path().join("b.ckpt");
    let cfg = quick_config(7);
    let a = run_quiet(&cfg, &set, &straight, false).unwrap();
    // Interrupt after the 4th step (the flag is raised from the progress callback).
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut on = |e: &train::Event| {
        if let train::Event::Step { step: 4, .. } = e {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let part =
        train::train_denoiser(&cfg, &set, None, &dev, &split, false, &mut on, Some(&flag)).unwrap();
    assert!(part.interrupted);
    assert_eq!(part.checkpoint.step, 4);
    let b = run_quiet(&cfg, &set, &split, true).unwrap();
    assert_eq!(b.checkpoint.step, 7);
    assert_eq!(a.checkpoint.params, b.checkpoint.params);
    assert_eq!(a.checkpoint.adam, b.checkpoint.adam);
    // The checkpoint on disk holds the same state.
    let reloaded = Checkpoint::load(&split).unwrap();
    assert_eq!(reloaded.params, b.checkpoint.params);
    assert_eq!(reloaded.adam, b.checkpoint.adam);
    // Resuming on other data is refused.
    let other = ImageSet::from_images(vec!["z".into()], vec![Array2::zeros((20, 20))]);
    let err = run_quiet(&cfg, &other, &split, true).unwrap_err();
    assert!(err.to_string().contains("trained on"), "{err}");
    // ... and so is data with the same names but other content.
    let mut edited = tiny_images();
    edited.images[1][[3, 5]] += 0.01;
    let err = run_quiet(&cfg, &edited, &split, true).unwrap_err();
    assert!(err.to_string().contains("other content"), "{err}");
}

/// A checkpoint whose network configuration disagrees with the one its training state
/// records, or whose training state is unreadable, is refused with a clear error.
#[test]
fn inconsistent_checkpoints_are_refused() {
    let set = tiny_images();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.ckpt");
    let out = run_quiet(&quick_config(2), &set, &path, false).unwrap();
    let ck = out.checkpoint;
    let state = WeightFile::read(&path)
        .unwrap()
        .meta("posterior.train")
        .unwrap()
        .to_string();
    let rewrite = |name: &str, net: &DenoiserConfig, state: &str| {
        let p = dir.path().join(name);
        weights::save(
            &p,
            &[
                ("param/", &ck.params),
                ("adam.m/", &ck.adam.m),
                ("adam.v/", &ck.adam.v),
            ],
            &[
                ("posterior.kind", train::CHECKPOINT_KIND.to_string()),
                ("posterior.config", serde_json::to_string(net).unwrap()),
                ("posterior.train", state.to_string()),
            ],
        )
        .unwrap();
        p
    };
    // the same contents written again load as before
    let same = rewrite("same.ckpt", &ck.config.net, &state);
    assert_eq!(Checkpoint::load(&same).unwrap().params, ck.params);
    let mut wider = ck.config.net;
    wider.features += 1;
    let err = Checkpoint::load(&rewrite("wider.ckpt", &wider, &state)).unwrap_err();
    assert!(err.to_string().contains("disagree"), "{err}");
    let err = Checkpoint::load(&rewrite("garbled.ckpt", &ck.config.net, "{not json")).unwrap_err();
    assert!(
        err.to_string().contains("unreadable training state"),
        "{err}"
    );
}

/// Checkpoints written before the data fingerprint was recorded still resume (by names),
/// and the resumed run records the fingerprint.
#[test]
fn checkpoints_without_a_data_fingerprint_resume_and_record_it() {
    let set = tiny_images();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.ckpt");
    let cfg = quick_config(3);
    let out = run_quiet(&cfg, &set, &path, false).unwrap();
    assert_eq!(out.checkpoint.data_sha256, Some(set.fingerprint()));
    let mut old = out.checkpoint;
    old.data_sha256 = None;
    old.save(&path).unwrap();
    assert_eq!(Checkpoint::load(&path).unwrap().data_sha256, None);
    let cfg = quick_config(5);
    let out = run_quiet(&cfg, &set, &path, true).unwrap();
    assert_eq!(out.checkpoint.step, 5);
    assert_eq!(
        Checkpoint::load(&path).unwrap().data_sha256,
        Some(set.fingerprint())
    );
    // the fingerprint sees content, not only names and shapes
    let mut edited = tiny_images();
    edited.images[0][[0, 0]] = 0.0;
    assert_ne!(edited.fingerprint(), set.fingerprint());
}

/// A resumed run with a new peak learning rate starts a fresh warm-up and cosine phase at
/// the checkpoint's step, records it in the checkpoint, and continues from the same weights.
#[test]
fn resume_with_a_new_learning_rate_starts_a_new_phase() {
    let set = tiny_images();
    let dev = posterior_nn::cpu();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.ckpt");
    let first = run_quiet(&quick_config(4), &set, &path, false).unwrap();
    let copy = dir.path().join("copy.ckpt");
    std::fs::copy(&path, &copy).unwrap();
    let mut cfg = quick_config(9);
    cfg.restart_lr = Some(1e-4);
    let mut lrs = Vec::new();
    let mut on = |e: &train::Event| {
        if let train::Event::Step { step, lr, .. } = e {
            lrs.push((*step, *lr));
        }
    };
    let b = train::train_denoiser(&cfg, &set, None, &dev, &path, true, &mut on, None).unwrap();
    assert_eq!(b.checkpoint.step, 9);
    assert_eq!(b.checkpoint.config.phase_start, 4);
    assert_eq!(b.checkpoint.config.lr, 1e-4);
    // warm-up over 2 steps from the new peak, then the cosine decay to 1 % of it
    assert_eq!(lrs[0], (5, 0.5e-4));
    assert_eq!(lrs[1], (6, 1e-4));
    assert!(lrs[4].1 < lrs[2].1 && lrs[4].1 >= 1e-6);
    assert_ne!(b.checkpoint.params, first.checkpoint.params);
    // The phase survives a reload: resuming again (no new rate) keeps it.
    let reloaded = Checkpoint::load(&path).unwrap();
    assert_eq!(reloaded.config.phase_start, 4);
    // A new phase needs steps left to run.
    let mut none_left = quick_config(9);
    none_left.restart_lr = Some(2e-4);
    let err = run_quiet(&none_left, &set, &path, true).unwrap_err();
    assert!(err.to_string().contains("beyond"), "{err}");
    // The restarting command, interrupted and run again as it was, continues its phase:
    // the result is the uninterrupted run's, bit for bit (no third phase at step 6).
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut stop = |e: &train::Event| {
        if let train::Event::Step { step: 6, .. } = e {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let part =
        train::train_denoiser(&cfg, &set, None, &dev, &copy, true, &mut stop, Some(&flag)).unwrap();
    assert!(part.interrupted);
    assert_eq!(part.checkpoint.step, 6);
    let again = run_quiet(&cfg, &set, &copy, true).unwrap();
    assert_eq!(again.checkpoint.config.phase_start, 4);
    assert_eq!(again.checkpoint.params, b.checkpoint.params);
    assert_eq!(again.checkpoint.adam, b.checkpoint.adam);
}

/// The training scales, patch and batch size are part of the run: a resumed run keeps
/// them, and only a new learning-rate phase may change them (recorded in the checkpoint).
#[test]
fn a_new_phase_may_change_the_patch_source_and_batch_and_only_a_new_phase() {
    let set = tiny_images();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.ckpt");
    run_quiet(&quick_config(4), &set, &path, false).unwrap();
    let plain_copy = dir.path().join("plain.ckpt");
    std::fs::copy(&path, &plain_copy).unwrap();
    let leaves_copy = dir.path().join("leaves.ckpt");
    std::fs::copy(&path, &leaves_copy).unwrap();
    let ellipses_copy = dir.path().join("ellipses.ckpt");
    std::fs::copy(&path, &ellipses_copy).unwrap();
    let mut multi = quick_config(9);
    multi.scales = vec![1.0, 0.5];
    let err = run_quiet(&multi, &set, &path, true).unwrap_err();
    assert!(err.to_string().contains("new learning-rate phase"), "{err}");
    let mut bigger = quick_config(9);
    bigger.patch = 20;
    let err = run_quiet(&bigger, &set, &path, true).unwrap_err();
    assert!(err.to_string().contains("patches 20x20"), "{err}");
    multi.restart_lr = Some(1e-3);
    multi.patch = 18;
    multi.batch = 5;
    let a = run_quiet(&multi, &set, &path, true).unwrap();
    assert_eq!(a.checkpoint.config.scales, [1.0, 0.5]);
    assert_eq!(
        (a.checkpoint.config.patch, a.checkpoint.config.batch),
        (18, 5)
    );
    assert_eq!(Checkpoint::load(&path).unwrap().config.scales, [1.0, 0.5]);
    // The same phase on the native scale only trains on other patches.
    let mut native = quick_config(9);
    native.restart_lr = Some(1e-3);
    let b = run_quiet(&native, &set, &plain_copy, true).unwrap();
    assert_eq!(b.checkpoint.config.scales, [1.0]);
    assert_ne!(a.checkpoint.params, b.checkpoint.params);
    // Generated dead-leaves images join the patch source the same way.
    let mut leaves = quick_config(9);
    leaves.dead_leaves = 2;
    let err = run_quiet(&leaves, &set, &leaves_copy, true).unwrap_err();
    assert!(err.to_string().contains("2 dead-leaves images"), "{err}");
    leaves.restart_lr = Some(1e-3);
    let c = run_quiet(&leaves, &set, &leaves_copy, true).unwrap();
    assert_eq!(c.checkpoint.config.dead_leaves, 2);
    assert_eq!(
        Checkpoint::load(&leaves_copy).unwrap().config.dead_leaves,
        2
    );
    assert_ne!(c.checkpoint.params, b.checkpoint.params);
    let source = c.checkpoint.config.patch_source(&set).unwrap();
    assert_eq!(source.names.len(), set.names.len() + 2);
    assert_eq!(
        source.names[set.names.len()..],
        ["dead_leaves_0", "dead_leaves_1"]
    );
    // And so do generated ellipse phantoms, after the dead-leaves images.
    let mut ellipses = quick_config(9);
    ellipses.dead_leaves = 1;
    ellipses.ellipses = 2;
    let err = run_quiet(&ellipses, &set, &ellipses_copy, true).unwrap_err();
    assert!(err.to_string().contains("2 ellipse phantoms"), "{err}");
    ellipses.restart_lr = Some(1e-3);
    let e = run_quiet(&ellipses, &set, &ellipses_copy, true).unwrap();
    assert_eq!(Checkpoint::load(&ellipses_copy).unwrap().config.ellipses, 2);
    assert_ne!(e.checkpoint.params, c.checkpoint.params);
    let source = e.checkpoint.config.patch_source(&set).unwrap();
    assert_eq!(
        source.names[set.names.len()..],
        ["dead_leaves_0", "ellipses_0", "head_1"]
    );
    // Aliased phantoms come last, and also only with a new phase.
    let mut aliased = ellipses.clone();
    aliased.steps = 11;
    aliased.restart_lr = None;
    aliased.aliased_ellipses = 2;
    let err = run_quiet(&aliased, &set, &ellipses_copy, true).unwrap_err();
    assert!(err.to_string().contains("2 aliased phantoms"), "{err}");
    aliased.restart_lr = Some(1e-3);
    let f = run_quiet(&aliased, &set, &ellipses_copy, true).unwrap();
    assert_eq!(
        Checkpoint::load(&ellipses_copy)
            .unwrap()
            .config
            .aliased_ellipses,
        2
    );
    assert_ne!(f.checkpoint.params, e.checkpoint.params);
    let source = f.checkpoint.config.patch_source(&set).unwrap();
    assert_eq!(
        source.names[set.names.len()..],
        [
            "dead_leaves_0",
            "ellipses_0",
            "head_1",
            "aliased_ellipses_0",
            "aliased_head_1"
        ]
    );
    // Resampled phantoms after them, by the same rule.
    let mut resampled = aliased.clone();
    resampled.steps = 12;
    resampled.restart_lr = None;
    resampled.resampled_ellipses = 1;
    let err = run_quiet(&resampled, &set, &ellipses_copy, true).unwrap_err();
    assert!(err.to_string().contains("1 resampled phantoms"), "{err}");
    resampled.restart_lr = Some(1e-3);
    let g = run_quiet(&resampled, &set, &ellipses_copy, true).unwrap();
    assert_eq!(
        Checkpoint::load(&ellipses_copy)
            .unwrap()
            .config
            .resampled_ellipses,
        1
    );
    assert_ne!(g.checkpoint.params, f.checkpoint.params);
    let source = g.checkpoint.config.patch_source(&set).unwrap();
    assert_eq!(
        source.names[set.names.len() + 5..],
        ["resampled_ellipses_0"]
    );
    // An absurd count is refused before any image is generated.
    let mut huge = quick_config(3);
    huge.dead_leaves = train::MAX_DEAD_LEAVES + 1;
    let err = run_quiet(&huge, &set, &dir.path().join("huge.ckpt"), false).unwrap_err();
    assert!(err.to_string().contains("at most 4096 images"), "{err}");
    let mut huge = quick_config(3);
    huge.ellipses = train::MAX_ELLIPSES + 1;
    let err = run_quiet(&huge, &set, &dir.path().join("huge.ckpt"), false).unwrap_err();
    assert!(err.to_string().contains("at most 4096 images"), "{err}");
    assert!(err.to_string().contains("ellipses"), "{err}");
    let mut huge = quick_config(3);
    huge.aliased_ellipses = train::MAX_ELLIPSES + 1;
    let err = run_quiet(&huge, &set, &dir.path().join("huge.ckpt"), false).unwrap_err();
    assert!(err.to_string().contains("at most 4096 images"), "{err}");
    assert!(err.to_string().contains("aliased-ellipses"), "{err}");
    let mut huge = quick_config(3);
    huge.resampled_ellipses = train::MAX_ELLIPSES + 1;
    let err = run_quiet(&huge, &set, &dir.path().join("huge.ckpt"), false).unwrap_err();
    assert!(err.to_string().contains("at most 4096 images"), "{err}");
    assert!(err.to_string().contains("resampled-ellipses"), "{err}");
    // Scales outside (0, 1] are refused before any step.
    let mut bad = quick_config(3);
    bad.scales = vec![1.0, 2.0];
    let err = run_quiet(&bad, &set, &dir.path().join("bad.ckpt"), false).unwrap_err();
    assert!(err.to_string().contains("(0, 1]"), "{err}");
}

#[test]
fn batches_depend_only_on_seed_and_step() {
    let set = tiny_images();
    let a = sample_batch(&set, 4, 16, 0.2, &mut step_rng(1, 10)).unwrap();
    let b = sample_batch(&set, 4, 16, 0.2, &mut step_rng(1, 10)).unwrap();
    let c = sample_batch(&set, 4, 16, 0.2, &mut step_rng(1, 11)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

fn trained_tiny(dir: &std::path::Path) -> (std::path::PathBuf, Checkpoint) {
    let set = tiny_images();
    let cfg = quick_config(5);
    let ck = dir.join("w.ckpt");
    let out = train::train_denoiser(
        &cfg,
        &set,
        None,
        &posterior_nn::cpu(),
        &ck,
        false,
        &mut |_| {},
        None,
    )
    .unwrap();
    let w = dir.join("w.safetensors");
    train::save_weights(&w, &out.checkpoint).unwrap();
    (w, out.checkpoint)
}

#[test]
fn save_load_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (w, ck) = trained_tiny(dir.path());
    let d = LearnedDenoiser::load(&w, posterior_nn::cpu()).unwrap();
    assert_eq!(d.params(), &ck.params);
    assert_eq!(d.config(), &ck.config.net);
    // Saving what was loaded gives the same bytes.
    let bytes = std::fs::read(&w).unwrap();
    let f = WeightFile::from_bytes(&bytes, "mem").unwrap();
    let again = weights::to_bytes(
        &[("", d.params())],
        &f.meta
            .iter()
            .filter(|(k, _)| k.as_str() != "posterior.format")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(weights::sha256_hex(&bytes), weights::sha256_hex(&again));
    // Same output as the in-memory network.
    let mem =
        LearnedDenoiser::new(ck.config.net, ck.params.clone(), posterior_nn::cpu(), "mem").unwrap();
    let y = random(&[12, 14], 8, 1.0);
    assert_eq!(
        d.denoise(y.view(), 0.1).unwrap(),
        mem.denoise(y.view(), 0.1).unwrap()
    );
}

#[test]
fn corrupted_or_mismatched_weight_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (w, ck) = trained_tiny(dir.path());
    let bytes = std::fs::read(&w).unwrap();
    // Truncated.
    let t = dir.path().join("trunc.safetensors");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    let e = LearnedDenoiser::load(&t, posterior_nn::cpu())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("trunc.safetensors") && e.contains("safetensors"),
        "{e}"
    );
    // Not a weight file at all.
    let g = dir.path().join("garbage.safetensors");
    std::fs::write(&g, b"hello world, not weights").unwrap();
    assert!(LearnedDenoiser::load(&g, posterior_nn::cpu()).is_err());
    // Missing file.
    let e = LearnedDenoiser::load(&dir.path().join("none"), posterior_nn::cpu())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read"), "{e}");
    // A flipped byte in the data: the hash check against a manifest entry catches it.
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 3] ^= 0x40;
    let entry = weights::ManifestEntry {
        name: "w".into(),
        file: "w.safetensors".into(),
        kind: DenoiserConfig::KIND.into(),
        config: serde_json::to_value(ck.config.net).unwrap(),
        data: "tiny".into(),
        command: "test".into(),
        steps: 5,
        seed: 7,
        validation: serde_json::Value::Null,
        parameters: ck.params.count(),
        sha256: weights::sha256_hex(&bytes),
    };
    weights::verify_sha256(&bytes, &entry).unwrap();
    let e = weights::verify_sha256(&flipped, &entry)
        .unwrap_err()
        .to_string();
    assert!(e.contains("SHA-256"), "{e}");
    // Another architecture than the file holds.
    let f = WeightFile::from_bytes(&bytes, "w").unwrap();
    let e = f
        .check_architecture(DenoiserConfig::KIND, &tiny())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match"), "{e}");
    let e = f
        .check_architecture("vae", &ck.config.net)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected `vae`"), "{e}");
    // Arrays of the wrong shape for the declared architecture.
    let mut wrong = ck.params.clone();
    wrong.params[0].shape = vec![wrong.params[0].len()];
    let e = load_error(&wrong, &ck.config.net, "wrong");
    assert!(e.contains("has shape"), "{e}");
    // Non-finite weights are refused.
    let mut nan = ck.params.clone();
    nan.params[1].data[0] = f32::NAN;
    let e = load_error(&nan, &ck.config.net, "nan");
    assert!(e.contains("non-finite"), "{e}");
    // A file claiming an enormous network is refused before anything is allocated for it.
    let huge = DenoiserConfig {
        channels: 1,
        features: 1 << 40,
        depth: 3,
        levels: 1,
        output_scale: OutputScale::One,
    };
    let e = load_error(&ck.params, &huge, "huge");
    assert!(e.contains("beyond the supported size"), "{e}");
    for bad in [
        DenoiserConfig {
            channels: 1 << 62,
            features: 8,
            depth: 3,
            levels: 1,
            output_scale: OutputScale::One,
        },
        DenoiserConfig {
            channels: 1,
            features: 4096,
            depth: 100,
            levels: 1,
            output_scale: OutputScale::One,
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    DenoiserConfig::default().validate().unwrap();
}

/// The error of loading `params` written as a `config` denoiser file.
fn load_error(params: &ParamSet, config: &DenoiserConfig, origin: &str) -> String {
    let b = weights::to_bytes(
        &[("", params)],
        &[
            ("posterior.kind", DenoiserConfig::KIND.into()),
            ("posterior.config", serde_json::to_string(config).unwrap()),
        ],
    )
    .unwrap();
    LearnedDenoiser::from_file(
        &WeightFile::from_bytes(&b, origin).unwrap(),
        posterior_nn::cpu(),
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn learned_denoiser_handles_odd_sides_colour_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = trained_tiny(dir.path());
    posterior_nn::register();
    let spec = posterior::Spec::parse(&format!("learned:weights={}", w.display())).unwrap();
    let d = posterior::denoise::build_denoiser(&spec).unwrap();
    let odd = random(&[13, 9], 1, 1.0);
    let x = d.denoise(odd.view(), 0.1).unwrap();
    assert_eq!(x.shape(), &[13, 9]);
    assert!(x.iter().all(|v| v.is_finite()));
    // Colour = each channel through the gray network.
    let c = random(&[3, 10, 12], 2, 1.0);
    let xc = d.denoise(c.view(), 0.1).unwrap();
    for k in 0..3 {
        let plane = c.index_axis(ndarray::Axis(0), k).to_owned();
        let xk = d.denoise(plane.view(), 0.1).unwrap();
        let diff = (&xc.index_axis(ndarray::Axis(0), k) - &xk).mapv(f32::abs);
        assert!(diff.iter().all(|v| *v < 1e-5));
    }
    let mut bad = random(&[8, 8], 3, 1.0);
    bad[[2, 2]] = f32::NAN;
    assert!(d.denoise(bad.view(), 0.1).is_err());
    assert!(d.denoise(odd.view(), -1.0).is_err());
    assert!(
        d.denoise(random(&[2, 2, 2, 2], 0, 1.0).view(), 0.1)
            .is_err()
    );
    let e =
        posterior::denoise::build_denoiser(&posterior::Spec::parse("learned:weigths=x").unwrap())
            .err()
            .unwrap()
            .to_string();
    assert!(e.contains("weigths"), "{e}");
}

#[test]
fn parameter_layout_mismatch_is_reported() {
    let a = tiny().init(&mut posterior::rng(0)).unwrap();
    let b = DenoiserConfig {
        features: 7,
        ..tiny()
    }
    .init(&mut posterior::rng(0))
    .unwrap();
    let e = a.check_layout(&b, "ctx").unwrap_err().to_string();
    assert!(e.contains("ctx") && e.contains("shape"), "{e}");
    assert!(LearnedDenoiser::new(tiny(), ParamSet::new(), posterior_nn::cpu(), "empty").is_err());
}

#[test]
fn run_refuses_bad_levels_and_non_finite_input() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = trained_tiny(dir.path());
    let d = LearnedDenoiser::load(&w, posterior_nn::cpu()).unwrap();
    let y = ndarray::ArrayD::<f32>::from_elem(ndarray::IxDyn(&[6, 6]), 0.5);
    for s in [f32::NAN, -0.1, f32::INFINITY] {
        let e = d.run(y.view(), s).unwrap_err().to_string();
        assert!(e.contains("finite and >= 0"), "{s}: {e}");
    }
    assert!(d.run(y.view(), 0.0).is_ok());
    let mut bad = y.clone();
    bad[[2, 2]] = f32::NAN;
    let e = d.run(bad.view(), 0.1).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
}

fn nonlinear_tiny() -> LearnedDenoiser {
    let cfg = tiny();
    let params = nonlinear_params(&cfg, 5);
    LearnedDenoiser::new(cfg, params, posterior_nn::cpu(), "test").unwrap()
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn self_ensemble_averages_the_flips_and_rotations() {
    let d = nonlinear_tiny();
    let y = random(&[10, 14], 7, 1.0).mapv(|v| v + 0.5);
    let s = 0.1;
    // One pass is the network itself.
    assert_eq!(
        d.run_ensemble(y.view(), s, 1).unwrap(),
        d.run(y.view(), s).unwrap()
    );
    // Two passes: the mean of the network and of its mirror image through the column flip.
    let flip = |a: &ArrayD<f32>| {
        let mut v = a.view();
        v.invert_axis(ndarray::Axis(1));
        v.to_owned()
    };
    let transpose = |a: &ArrayD<f32>| a.view().reversed_axes().to_owned();
    let two = d.run_ensemble(y.view(), s, 2).unwrap();
    let by_hand = (d.run(y.view(), s).unwrap() + flip(&d.run(flip(&y).view(), s).unwrap())) / 2.0;
    assert!(max_abs_diff(&two, &by_hand) < 1e-6);
    // The network alone is not equivariant; its eight-fold ensemble is, to rounding.
    let plain = d.run(y.view(), s).unwrap();
    assert!(max_abs_diff(&transpose(&plain), &d.run(transpose(&y).view(), s).unwrap()) > 1e-3);
    let eight = d.run_ensemble(y.view(), s, 8).unwrap();
    for t in [&flip as &dyn Fn(&ArrayD<f32>) -> ArrayD<f32>, &transpose] {
        let moved = d.run_ensemble(t(&y).view(), s, 8).unwrap();
        assert!(max_abs_diff(&t(&eight), &moved) < 1e-5);
    }
    // Odd sides and colour keep their shape; the count is checked.
    let odd = random(&[3, 9, 12], 8, 1.0);
    assert_eq!(
        d.run_ensemble(odd.view(), s, 8).unwrap().shape(),
        &[3, 9, 12]
    );
    for k in [0, 9] {
        let e = d.run_ensemble(y.view(), s, k).unwrap_err().to_string();
        assert!(e.contains("1 to 8"), "{k}: {e}");
    }
    // Through the trait and the spec.
    let d8 = nonlinear_tiny().with_ensemble(8).unwrap();
    assert_eq!(d8.denoise(y.view(), s).unwrap(), eight);
    assert!(d8.describe().contains("x8 ensemble"));
    posterior_nn::register();
    let e =
        posterior::denoise::build_denoiser(&posterior::Spec::parse("learned:ensemble=9").unwrap())
            .err()
            .unwrap()
            .to_string();
    assert!(e.contains("ensemble"), "{e}");
}

#[test]
fn the_l1_loss_has_its_own_gradient_and_stays_with_the_run() {
    let cfg = tiny();
    let params = nonlinear_params(&cfg, 9);
    let batch = sample_batch(&tiny_images(), 4, 12, 0.2, &mut posterior::rng(1)).unwrap();
    let dev = posterior_nn::cpu();
    let (l1, _) = batch_gradient_with(&cfg, Loss::L1, &params, &batch, &dev).unwrap();
    let (l2, g2) = batch_gradient_with(&cfg, Loss::Mse, &params, &batch, &dev).unwrap();
    let (l0, g0) = batch_gradient(&cfg, &params, &batch, &dev).unwrap();
    assert_eq!((l2, &g2), (l0, &g0));
    // The value is the mean absolute error of the network's output.
    let d = LearnedDenoiser::new(cfg, params.clone(), dev.clone(), "t").unwrap();
    let shape = [batch.n, 1, batch.patch, batch.patch];
    let y = ArrayD::from_shape_vec(IxDyn(&shape), batch.noisy.clone()).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&shape), batch.clean.clone()).unwrap();
    let out = d.denoise_batch(y.view(), &batch.sigma).unwrap();
    let mae = (&out - &x).mapv(|v| v.abs() as f64).mean().unwrap();
    assert!((l1 - mae).abs() < 1e-5 * mae, "{l1} vs {mae}");
    // Its gradient against central differences along a random direction, and unlike the
    // MSE's.
    let (g1, dir) = check_parameter_gradient(&cfg, Loss::L1, &params, &batch);
    let ad = dot_params(&g1, &dir);
    let other = dot_params(&g2, &dir);
    assert!((ad - other).abs() > 0.1 * ad.abs(), "{ad} vs MSE's {other}");
    // A run records its loss, and resuming it keeps that loss whatever is asked.
    let set = tiny_images();
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("l1.ckpt");
    let run = TrainConfig {
        loss: Loss::L1,
        ..quick_config(6)
    };
    let first = run_quiet(&run, &set, &ck, false).unwrap();
    assert_eq!(first.checkpoint.config.loss, Loss::L1);
    let more = TrainConfig {
        loss: Loss::Mse,
        ..quick_config(9)
    };
    let resumed = run_quiet(&more, &set, &ck, true).unwrap();
    assert_eq!(resumed.checkpoint.config.loss, Loss::L1);
    assert_eq!(resumed.checkpoint.step, 9);
    // Settings written before the loss was recorded read as the MSE.
    let mut old = serde_json::to_value(&first.checkpoint.config).unwrap();
    assert_eq!(old["loss"], "l1");
    old.as_object_mut().unwrap().remove("loss");
    let old: TrainConfig = serde_json::from_value(old).unwrap();
    assert_eq!(old.loss, Loss::Mse);
    assert!(Loss::parse("l2").is_err());
}
