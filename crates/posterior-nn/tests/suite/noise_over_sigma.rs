//! The σ-scaled output of the denoising network (`noise_over_sigma`): its relation to the
//! plain residual output, gradients, configuration files and training.

use ndarray::Axis;
use posterior_nn::LearnedDenoiser;
use posterior_nn::net::DenoiserConfig;
use posterior_nn::prior::NoiseConditionedDenoiser;
use posterior_nn::train::data::sample_batch;
use posterior_nn::train::{self, Loss, TrainConfig};
use posterior_nn::weights::WeightFile;

use crate::nn::{
    check_input_vjp, check_parameter_gradient, nonlinear_params, quick_config, random, tiny_images,
    train_and_measure,
};

fn scaled(levels: usize, depth: usize, features: usize) -> DenoiserConfig {
    DenoiserConfig {
        channels: 1,
        features,
        depth,
        levels,
        noise_over_sigma: true,
    }
}

#[test]
fn scaled_output_is_sigma_times_the_plain_residual() {
    for cfg in [scaled(1, 3, 4), scaled(2, 1, 4)] {
        let plain_cfg = DenoiserConfig {
            noise_over_sigma: false,
            ..cfg
        };
        // The same parameters under both outputs: the scaled network's correction is σ
        // times the plain one's, so it vanishes at σ = 0 and equals it at σ = 1.
        let params = nonlinear_params(&cfg, 4);
        let dev = posterior_nn::cpu();
        let on = LearnedDenoiser::new(cfg, params.clone(), dev.clone(), "on").unwrap();
        let off = LearnedDenoiser::new(plain_cfg, params, dev, "off").unwrap();
        let y = random(&[4, 1, 8, 12], 2, 1.0).mapv(|v| v + 0.5);
        let sigma = [0.0, 0.02, 0.2, 1.0];
        let a = on.denoise_batch(y.view(), &sigma).unwrap();
        let b = off.denoise_batch(y.view(), &sigma).unwrap();
        for (k, s) in sigma.iter().enumerate() {
            let yk = y.index_axis(Axis(0), k);
            let plain_residual = &yk - &b.index_axis(Axis(0), k);
            let residual = &yk - &a.index_axis(Axis(0), k);
            // The plain network does correct (else the check below would be empty).
            let size = plain_residual
                .iter()
                .map(|v| v.abs())
                .fold(0.0f32, f32::max);
            assert!(size > 1e-2, "{cfg:?} σ={s}: plain correction {size}");
            let err = (&residual - &plain_residual.mapv(|v| v * s))
                .iter()
                .map(|v| v.abs())
                .fold(0.0f32, f32::max);
            assert!(err <= 1e-5 * size.max(1.0), "{cfg:?} σ={s}: {err}");
        }
        // At σ = 0 the output is the input, exactly.
        assert_eq!(a.index_axis(Axis(0), 0), y.index_axis(Axis(0), 0));
    }
}

#[test]
fn scaled_output_gradients_match_finite_differences() {
    for (cfg, h) in [(scaled(1, 3, 4), 2e-4), (scaled(2, 1, 4), 2e-4)] {
        let params = nonlinear_params(&cfg, 3);
        let d = LearnedDenoiser::new(cfg, params, posterior_nn::cpu(), "t").unwrap();
        check_input_vjp(&d, &[2, 1, 8, 12], h, 5e-3);
        let params = nonlinear_params(&cfg, 9);
        let batch = sample_batch(&tiny_images(), 4, 12, 0.2, &mut posterior::rng(1)).unwrap();
        check_parameter_gradient(&cfg, Loss::L1, &params, &batch);
        check_parameter_gradient(&cfg, Loss::Mse, &params, &batch);
    }
}

#[test]
fn scaled_output_configuration_and_training() {
    // Files written before the option existed read as the plain output, which still
    // writes nothing; the scaled output writes and reads its flag and says so.
    let old: DenoiserConfig =
        serde_json::from_str(r#"{"channels":1,"depth":12,"features":48}"#).unwrap();
    assert!(!old.noise_over_sigma);
    let plain = serde_json::to_string(&DenoiserConfig::default()).unwrap();
    assert!(!plain.contains("noise_over_sigma"), "{plain}");
    let cfg = scaled(2, 1, 6);
    let text = serde_json::to_string(&cfg).unwrap();
    assert!(text.contains(r#""noise_over_sigma":true"#), "{text}");
    assert_eq!(serde_json::from_str::<DenoiserConfig>(&text).unwrap(), cfg);
    assert_eq!(
        cfg.summary(),
        "2 levels of 1 residual block, 6-12 features, predicting noise / σ"
    );
    assert_eq!(cfg.kind(), DenoiserConfig::UNET_KIND);

    // Training lowers the loss, and the weight file keeps the flag. (The untrained network
    // is the identity to within σ times a small output, so it starts from the noise power;
    // at this size it learns more slowly than the plain output: measured 0.91 of it after
    // 60 steps, where the plain UNet is below 0.9, and 0.77 after 120.)
    let tc = TrainConfig {
        net: cfg,
        checkpoint_every: 40,
        ..quick_config(120)
    };
    let dir = tempfile::tempdir().unwrap();
    let (before, after, out) = train_and_measure(&tc, &dir.path().join("s.ckpt"));
    assert!(after < 0.9 * before, "loss {before} -> {after}");
    let w = dir.path().join("s.safetensors");
    train::save_weights(&w, &out.checkpoint).unwrap();
    let d = LearnedDenoiser::load(&w, posterior_nn::cpu()).unwrap();
    assert_eq!(d.config(), &cfg);
    assert!(
        WeightFile::read(&w)
            .unwrap()
            .meta("posterior.config")
            .unwrap()
            .contains("noise_over_sigma"),
    );
    assert_eq!(d.params(), &out.checkpoint.params);
}
