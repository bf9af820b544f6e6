//! MAP methods end to end (`tikhonov`, `tv`, `wavelet`, `dct`): known answers, agreement
//! between solvers on the same objective, PSNR floors on small seeded problems, and errors.

use ndarray::{ArrayD, IxDyn};
use posterior::io::AnyArray;
use posterior::methods::{self, RunOptions, map};
use posterior::noise::NoiseModel;
use posterior::ops::{AnyOperator, LinearOperator, build_operator};
use posterior::prox::{Functional, TotalVariation};
use posterior::transforms::finite_diff::{DiffBoundary, Gradient2d};
use posterior::{Spec, c32};

fn image(n: usize) -> ArrayD<f32> {
    posterior::phantom::shepp_logan(n).into_dyn()
}

fn natural(n: usize) -> ArrayD<f32> {
    // a smooth-plus-edges test image: the camera photo cropped to n x n
    let cam = posterior::data::bundled("camera").unwrap();
    ArrayD::from_shape_fn(IxDyn(&[n, n]), |i| cam[[64 + i[0], 96 + i[1]]])
}

fn problem(op: &str, x: &ArrayD<f32>, sigma: f32, seed: u64) -> (Spec, AnyOperator, AnyArray) {
    let spec = Spec::parse(op).unwrap();
    let a = build_operator(op, x.shape()).unwrap();
    let y = methods::simulate(&a, x, &NoiseModel::Gaussian { sigma }, seed).unwrap();
    (spec, a, y)
}

fn solve(spec: &Spec, a: &AnyOperator, y: &AnyArray, method: &str) -> methods::Outcome {
    let m = Spec::parse(method).unwrap();
    methods::reconstruct(spec, a, y, &m, RunOptions::default())
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// As `solve`, telling the method the simulated noise level (as `posterior bench` does).
fn solve_known(
    spec: &Spec,
    a: &AnyOperator,
    y: &AnyArray,
    method: &str,
    sigma: f32,
) -> methods::Outcome {
    let m = Spec::parse(method).unwrap();
    let opts = RunOptions {
        noise: Some(NoiseModel::Gaussian { sigma }),
        ..RunOptions::default()
    };
    methods::reconstruct(spec, a, y, &m, opts).unwrap_or_else(|e| panic!("{method}: {e}"))
}

fn psnr(x: &ArrayD<f32>, out: &methods::Outcome) -> f64 {
    let est = methods::real_image(&out.x);
    posterior::metrics::psnr(x.view(), est.view(), 1.0)
}

fn real(out: &methods::Outcome) -> ArrayD<f32> {
    match &out.x {
        AnyArray::Real(r) => r.clone(),
        AnyArray::Complex(_) => panic!("expected a real estimate"),
    }
}

fn real_op(a: &AnyOperator) -> &dyn LinearOperator<Domain = f32, Range = f32> {
    match a {
        AnyOperator::Real(b) => b.as_ref(),
        _ => panic!("expected a real operator"),
    }
}

/// `½‖Ax − y‖² + λ TV_iso,periodic(x)`.
fn tv_objective(a: &AnyOperator, y: &AnyArray, x: &ArrayD<f32>, lambda: f32) -> f64 {
    let op = real_op(a);
    let yr = match y {
        AnyArray::Real(r) => r,
        _ => unreachable!(),
    };
    let r = &op.apply(x.view()) - yr;
    let fit = 0.5 * r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    let tv = TotalVariation::new(lambda).with_boundary(DiffBoundary::Periodic);
    fit + tv.value(x.view())
}

#[test]
fn tikhonov_closed_form_and_cg_solve_the_normal_equations() {
    let x = natural(32);
    for (op, method) in [
        (
            "blur:kernel=gaussian,size=7,std=1.2",
            "tikhonov:lambda=0.01,reg=gradient",
        ),
        (
            "blur:kernel=gaussian,size=7,std=1.2",
            "tikhonov:lambda=0.01,reg=laplacian",
        ),
        (
            "inpaint:keep=0.6,seed=3",
            "tikhonov:lambda=0.05,reg=identity",
        ),
        (
            "ct:angles=24",
            "tikhonov:lambda=0.5,reg=gradient,iters=500,tol=1e-7",
        ),
        (
            "blur:kernel=gaussian,size=7,std=1.2,boundary=reflect",
            "tikhonov:lambda=0.01,reg=gradient,iters=500,tol=1e-7",
        ),
    ] {
        let (spec, a, y) = problem(op, &x, 0.01, 1);
        let out = solve(&spec, &a, &y, method);
        let xe = real(&out);
        let closed = out.iterations == 0;
        assert_eq!(
            closed,
            !method.contains("iters"),
            "{op} {method}: {}",
            out.summary
        );
        // residual of (AᴴA + λRᴴR) x = Aᴴy
        let m = Spec::parse(method).unwrap();
        let args = m.args(&["lambda", "reg", "iters", "tol"]).unwrap();
        let lambda = args.f32("lambda", 0.0).unwrap();
        let reg = args.str_opt("reg").unwrap_or("identity");
        let opa = real_op(&a);
        let yr = match &y {
            AnyArray::Real(r) => r.clone(),
            _ => unreachable!(),
        };
        let rhs = opa.adjoint(yr.view());
        let mut lhs = opa.normal(xe.view());
        let reg_term = match reg {
            "identity" => xe.clone(),
            "gradient" => Gradient2d::<f32>::new(x.shape())
                .unwrap()
                .with_boundary(DiffBoundary::Periodic)
                .normal(xe.view()),
            _ => {
                let l = posterior::transforms::finite_diff::Laplacian::<f32>::new(x.shape())
                    .unwrap()
                    .with_boundary(DiffBoundary::Periodic);
                l.normal(xe.view())
            }
        };
        lhs.zip_mut_with(&reg_term, |a, &b| *a += lambda * b);
        let err = (&lhs - &rhs)
            .iter()
            .map(|v| (*v as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let nrm = rhs.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!(
            err < 2e-4 * nrm,
            "{op} {method}: normal-equation residual {:.2e}",
            err / nrm
        );
    }
}

#[test]
fn tv_solvers_agree_on_the_deblurring_objective() {
    let x = natural(48);
    let (spec, a, y) = problem("blur:kernel=gaussian,size=9,std=1.6", &x, 0.01, 2);
    let lambda = 2e-3f32;
    let mut objectives = Vec::new();
    let mut estimates = Vec::new();
    for solver in ["admm", "pdhg", "fista"] {
        let iters = if solver == "fista" { 600 } else { 1500 };
        let out = solve(
            &spec,
            &a,
            &y,
            &format!("tv:lambda={lambda},solver={solver},iters={iters},tol=1e-6"),
        );
        let xe = real(&out);
        objectives.push(tv_objective(&a, &y, &xe, lambda));
        estimates.push(xe);
        assert!(
            psnr(&x, &out) > 24.0,
            "{solver}: {:.2} dB ({})",
            psnr(&x, &out),
            out.summary
        );
    }
    let best = objectives.iter().cloned().fold(f64::INFINITY, f64::min);
    for (o, s) in objectives.iter().zip(["admm", "pdhg", "fista"]) {
        assert!(
            (o - best) / best < 2e-3,
            "{s}: objective {o} vs best {best}"
        );
    }
    let d = ((&estimates[0] - &estimates[1])
        .mapv(|v| v * v)
        .mean()
        .unwrap())
    .sqrt();
    assert!(d < 3e-3, "admm and pdhg differ by {d} (rms)");
    // the adjoint-start baseline: TV must improve on the blurred data
    let base = posterior::metrics::psnr(
        x.view(),
        match &y {
            AnyArray::Real(r) => r.view(),
            _ => unreachable!(),
        },
        1.0,
    );
    let admm = solve(&spec, &a, &y, &format!("tv:lambda={lambda},iters=200"));
    assert!(
        psnr(&x, &admm) > base + 1.5,
        "tv {:.2} vs blurred {base:.2}",
        psnr(&x, &admm)
    );
}

#[test]
fn tv_reconstructs_ct_mri_inpainting_and_cs() {
    let x = image(64);
    // CT: stacked PDHG with non-negativity beats FBP clearly.
    let (spec, a, y) = problem("ct:angles=30", &x, 0.1, 3);
    let fbp = solve(&spec, &a, &y, "fbp");
    let tv = solve(&spec, &a, &y, "tv:lambda=0.5,nonneg=true,iters=300");
    let xe = real(&tv);
    assert!(xe.iter().all(|&v| v >= 0.0), "nonneg violated");
    assert!(
        psnr(&x, &tv) > psnr(&x, &fbp) + 5.0,
        "ct: tv {:.2} vs fbp {:.2}",
        psnr(&x, &tv),
        psnr(&x, &fbp)
    );
    let ladmm = solve(
        &spec,
        &a,
        &y,
        "tv:lambda=0.5,nonneg=true,iters=600,solver=ladmm",
    );
    assert!(
        psnr(&x, &ladmm) > psnr(&x, &fbp) + 3.0,
        "ct ladmm {:.2}",
        psnr(&x, &ladmm)
    );
    // MRI, real and complex images: exact ADMM beats zero filling.
    for op in [
        "mri:accel=4,center=0.08,seed=1",
        "mri:accel=4,center=0.08,seed=1,complex=true",
    ] {
        let (spec, a, y) = problem(op, &x, 0.01, 4);
        let zf = solve(&spec, &a, &y, "adjoint");
        let tv = solve_known(&spec, &a, &y, "tv:iters=150", 0.01);
        assert!(tv.summary.contains("exact"), "{}", tv.summary);
        assert!(
            psnr(&x, &tv) > psnr(&x, &zf) + 4.0,
            "{op}: tv {:.2} vs zero-filled {:.2}",
            psnr(&x, &tv),
            psnr(&x, &zf)
        );
        let pd = solve_known(&spec, &a, &y, "tv:iters=150,solver=pdhg,nonneg=true", 0.01);
        assert!(
            psnr(&x, &pd) > psnr(&x, &zf) + 4.0,
            "{op} pdhg: {:.2}",
            psnr(&x, &pd)
        );
    }
    // Inpainting (pixel Gram + periodic differences: no closed form -> PDHG).
    // 70% of a 64x64 crop of camera missing: PDHG and FISTA agree and fill the holes.
    let xn = natural(64);
    let (spec, a, y) = problem("inpaint:keep=0.3,seed=2", &xn, 0.01, 5);
    let tv = solve_known(&spec, &a, &y, "tv:iters=400", 0.01);
    let fi = solve_known(&spec, &a, &y, "tv:iters=400,solver=fista", 0.01);
    let zf = solve(&spec, &a, &y, "adjoint");
    assert!(tv.summary.contains("pdhg"), "{}", tv.summary);
    assert!(
        psnr(&xn, &tv) > psnr(&xn, &zf) + 10.0 && (psnr(&xn, &tv) - psnr(&xn, &fi)).abs() < 0.3,
        "inpaint: pdhg {:.2}, fista {:.2}, holes {:.2}",
        psnr(&xn, &tv),
        psnr(&xn, &fi),
        psnr(&xn, &zf)
    );
    // Compressed sensing on a small image.
    let xs = image(24);
    let (spec, a, y) = problem("cs:ratio=0.5,kind=fast,seed=1", &xs, 0.005, 6);
    let tv = solve(&spec, &a, &y, "tv:lambda=0.002,iters=400");
    let ml = solve(&spec, &a, &y, "mle:iters=50");
    assert!(
        psnr(&xs, &tv) > psnr(&xs, &ml) + 3.0,
        "cs: tv {:.2} vs mle {:.2}",
        psnr(&xs, &tv),
        psnr(&xs, &ml)
    );
}

#[test]
fn wavelet_and_dct_solvers_agree_and_denoise() {
    // a natural image for denoising; the wavelet-sparse phantom for MRI
    for (op, x, sigma) in [
        ("denoise", natural(64), 0.05),
        ("mri:accel=3,center=0.1,seed=3", image(64), 0.02),
    ] {
        let (spec, a, y) = problem(op, &x, sigma, 7);
        let base = solve(&spec, &a, &y, "adjoint");
        for method in [
            "wavelet:wavelet=db4,levels=3",
            "dct",
            "dct:block=8",
            "wavelet:wavelet=haar",
        ] {
            let sep = if method.contains(':') { ',' } else { ':' };
            let fista = solve_known(
                &spec,
                &a,
                &y,
                &format!("{method}{sep}iters=300,tol=0"),
                sigma,
            );
            let admm = solve_known(
                &spec,
                &a,
                &y,
                &format!("{method}{sep}iters=300,tol=0,solver=admm"),
                sigma,
            );
            let (pf, pa) = (psnr(&x, &fista), psnr(&x, &admm));
            assert!(
                (pf - pa).abs() < 0.1,
                "{op} {method}: fista {pf:.2} vs admm {pa:.2}"
            );
            // denoising must gain clearly; MRI (3x, a 64x64 phantom) at least not lose
            let gain = if op == "denoise" { 1.0 } else { 0.0 };
            assert!(
                pf > psnr(&x, &base) + gain,
                "{op} {method}: {pf:.2} vs baseline {:.2}",
                psnr(&x, &base)
            );
        }
    }
}

#[test]
fn default_lambda_uses_the_noise_level() {
    let x = natural(64);
    let (_, a, y) = problem("denoise", &x, 0.05, 8);
    let m = match &a {
        AnyOperator::Real(b) => b.measured(),
        _ => None,
    };
    let est = map::estimate_sigma(&y, m.as_ref()).unwrap();
    assert!((est - 0.05).abs() < 0.008, "estimated sigma {est}");
    // masked data: only fully measured blocks count
    let (_, a, y) = problem("inpaint:keep=0.7,seed=1", &x, 0.05, 9);
    let m = match &a {
        AnyOperator::Real(b) => b.measured(),
        _ => None,
    };
    let est = map::estimate_sigma(&y, m.as_ref()).unwrap();
    assert!((est - 0.05).abs() < 0.012, "masked estimate {est}");
    // complex k-space noise: per component
    let (_, a, y) = problem("mri:accel=2,seed=1", &x, 0.02, 10);
    let m = match &a {
        AnyOperator::RealToComplex(b) => b.measured(),
        _ => None,
    };
    let est = map::estimate_sigma(&y, m.as_ref()).unwrap();
    assert!(est > 0.015 && est < 0.03, "k-space estimate {est}");
    // a run without lambda reports the default it used: 10 sigma^2 for tv
    let (spec, a, y) = problem("denoise", &x, 0.05, 8);
    let opts = RunOptions {
        noise: Some(NoiseModel::Gaussian { sigma: 0.05 }),
        ..RunOptions::default()
    };
    let out = methods::reconstruct(&spec, &a, &y, &Spec::parse("tv").unwrap(), opts).unwrap();
    assert!(out.summary.contains("lambda = 2.500e-2"), "{}", out.summary);
    assert!(psnr(&x, &out) > 29.0, "{:.2}", psnr(&x, &out));
}

#[test]
fn scale_changing_operators_start_from_the_tikhonov_estimate() {
    // Structured compressed sensing (||A|| = sqrt(n/m) ~ 1.8) and CT change the intensity
    // scale; from the back-projection the default iteration limits stop far from
    // convergence, from the gradient-Tikhonov estimate they do not.
    let x = natural(64);
    let sigma = 0.01;
    for op in ["cs:ratio=0.3,kind=fast,seed=3", "ct:angles=30"] {
        let (spec, a, y) = problem(op, &x, sigma, 21);
        for m in ["tv", "wavelet"] {
            let auto = solve_known(&spec, &a, &y, m, sigma);
            assert!(auto.summary.contains("Tikhonov start"), "{}", auto.summary);
            let bp = solve_known(&spec, &a, &y, &format!("{m}:start=backprojection"), sigma);
            assert!(
                bp.summary.contains("back-projection start"),
                "{}",
                bp.summary
            );
            let forced = solve_known(&spec, &a, &y, &format!("{m}:start=tikhonov"), sigma);
            assert_eq!(real(&auto), real(&forced), "{op} {m}: auto = tikhonov");
            let (pa, pb) = (psnr(&x, &auto), psnr(&x, &bp));
            eprintln!("{op} {m}: Tikhonov start {pa:.2} dB, back-projection start {pb:.2} dB");
            // measured: CS +3.1 (tv) / +9.0 (wavelet) dB; CT +0.8 / +0.04 dB
            let margin = if op.starts_with("cs") { 2.0 } else { -0.1 };
            assert!(pa > pb + margin, "{op} {m}: {pa:.2} vs {pb:.2}");
        }
    }
    // Scale-preserving operators keep the back-projection start.
    let (spec, a, y) = problem("blur:kernel=gaussian,size=7,std=1.2", &x, sigma, 21);
    let o = solve_known(&spec, &a, &y, "tv", sigma);
    assert!(o.summary.contains("back-projection start"), "{}", o.summary);
}

#[test]
fn bad_map_specs_are_errors() {
    let x = natural(32);
    let (spec, a, y) = problem("mri:accel=4", &x, 0.01, 1);
    for bad in [
        "tv:lambda=-1",
        "tv:solver=ladmm",
        "tv:solver=magic",
        "tv:iters=0",
        "tv:colour=1",
        "tikhonov:lambda=0",
        "wavelet:levels=9",
        "dct:block=4",
        "tv:alpha=2.5",
        "tv:start=zero",
        "wavelet:start=1",
        // PDHG steps violating tau sigma ||K||^2 < 1, or too small for f32 reciprocals
        "tv:solver=pdhg,tau=1,sigma=1",
        "tv:solver=pdhg,tau=1e-39",
    ] {
        let m = Spec::parse(bad).unwrap();
        assert!(
            methods::reconstruct(&spec, &a, &y, &m, RunOptions::default()).is_err(),
            "{bad} must fail"
        );
    }
    // a valid pair, and ADMM's penalty for the l1 methods, are accepted
    for good in [
        "tv:solver=pdhg,tau=0.1,sigma=0.1,iters=5",
        "wavelet:solver=admm,rho=1,iters=5",
    ] {
        let m = Spec::parse(good).unwrap();
        methods::reconstruct(&spec, &a, &y, &m, RunOptions::default()).unwrap();
    }
    let _ = c32::new(0.0, 0.0);
    let _ = IxDyn(&[1]);
}

/// `posterior bench` runs every (operator, method) pair: each MAP method works on every
/// registered operator (falling back to iterative solves where no closed form exists) and
/// improves on the adjoint/zero-filled start.
#[test]
fn every_operator_takes_every_map_method() {
    let x = natural(32);
    for entry in posterior::ops::registry() {
        if matches!(entry.name, "wavelet" | "dct") {
            continue; // transforms, not measurement models
        }
        let spec_str = entry.examples[0];
        let (spec, a, y) = problem(spec_str, &x, 0.01, 11);
        let start = solve(&spec, &a, &y, "mle:iters=3");
        for method in [
            "tikhonov:reg=identity,iters=50",
            "tikhonov:iters=50",
            "tv:iters=60",
            "tv:iters=60,solver=fista",
            "wavelet:iters=60",
            "dct:iters=60",
        ] {
            let out = solve_known(&spec, &a, &y, method, 0.01);
            let est = methods::real_image(&out.x);
            assert!(
                est.iter().all(|v| v.is_finite()),
                "{spec_str} {method}: non-finite"
            );
            assert_eq!(est.shape(), x.shape(), "{spec_str} {method}");
            // Tikhonov with R = I shrinks towards 0: a weak prior for images with a mean,
            // allowed to lose more against the unregularized start
            let slack = if method == "tikhonov:reg=identity,iters=50" {
                6.0
            } else {
                1.0
            };
            assert!(
                psnr(&x, &out) > psnr(&x, &start) - slack,
                "{spec_str} {method}: {:.2} dB vs 3 CGLS iterations {:.2} dB ({})",
                psnr(&x, &out),
                psnr(&x, &start),
                out.summary
            );
        }
    }
}

/// The denoisers are methods of the `denoise` operator (σ from the spec, the noise model or
/// an estimate), and refuse other operators with a pointer to PnP.
#[test]
fn denoisers_run_as_methods_on_denoise_data() {
    let x = natural(48);
    let (spec, a, y) = problem("denoise", &x, 0.1, 12);
    let noisy = psnr(&x, &solve(&spec, &a, &y, "adjoint"));
    for m in ["nlm:sigma=0.1", "nlm", "bm3d:sigma=0.1,profile=np"] {
        let out = solve(&spec, &a, &y, m);
        assert!(
            psnr(&x, &out) > noisy + 4.0,
            "{m}: {:.2} vs {noisy:.2}",
            psnr(&x, &out)
        );
    }
    let (spec, a, y) = problem("blur:kernel=gaussian,size=5,std=1", &x, 0.01, 13);
    let err = methods::reconstruct(
        &spec,
        &a,
        &y,
        &Spec::parse("bm3d").unwrap(),
        RunOptions::default(),
    );
    assert!(err.is_err_and(|e| e.to_string().contains("pnp-admm")));
    let (spec, a, y) = problem("denoise", &x, 0.1, 12);
    for bad in ["nlm:sigma=-1", "nlm:sigma=abc", "bm3d:colour=2"] {
        let m = Spec::parse(bad).unwrap();
        assert!(
            methods::reconstruct(&spec, &a, &y, &m, RunOptions::default()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn compressed_sensing_data_ask_for_the_noise_level() {
    // 1-D random projections carry no local structure: neighbouring entries differ by
    // signal, so the noise level cannot be read from them (the old estimate read the signal,
    // and the default λ it gave made `wavelet` return a near-zero image).
    let x = natural(64);
    let (spec, a, y) = problem("cs:ratio=0.3,kind=fast,seed=3", &x, 0.01, 21);
    assert_eq!(map::noise_level(None, &y, None, 2), None);
    let known = NoiseModel::Gaussian { sigma: 0.01 };
    assert_eq!(
        map::noise_level(Some(&known), &y, None, 2),
        Some(0.01f32 as f64)
    );
    // A denoising image is readable; a 1-D signal is readable as itself.
    let (_, _, yd) = problem("denoise", &x, 0.05, 8);
    assert!(map::noise_level(None, &yd, None, 2).is_some());
    assert!(map::noise_level(None, &y, None, 1).is_some());
    for m in ["tv", "wavelet", "pnp-admm:denoiser=tv"] {
        let e = methods::reconstruct(
            &spec,
            &a,
            &y,
            &Spec::parse(m).unwrap(),
            RunOptions::default(),
        )
        .err()
        .unwrap_or_else(|| panic!("{m} ran without a noise level"))
        .to_string();
        assert!(e.contains("noise level") && e.contains("1-D"), "{m}: {e}");
        // The MAP methods can take λ instead; PnP's schedule needs the level itself.
        assert_eq!(e.contains("lambda="), !m.starts_with("pnp"), "{m}: {e}");
    }
    // Told the noise model, or given λ, they run; an explicit λ = α σ² (the default's
    // relation) gives the run the noise model would (to the rounding of λ's decimal form).
    let with_noise = solve_known(&spec, &a, &y, "wavelet", 0.01);
    assert!(psnr(&x, &with_noise) > 20.0, "{:.2}", psnr(&x, &with_noise));
    let lambda = map::ALPHA_L1 * 0.01f64.powi(2);
    let with_lambda = solve(&spec, &a, &y, &format!("wavelet:lambda={lambda}"));
    let gap = (psnr(&x, &with_noise) - psnr(&x, &with_lambda)).abs();
    assert!(gap < 0.01, "explicit lambda differs by {gap:.3} dB");
}
