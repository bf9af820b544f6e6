//! End-to-end tests of the `posterior` binary: the documented commands work, and bad input
//! gives one clear error line and exit code 2 (never a panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::{Array2, ArrayD};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_posterior"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `posterior simulate` without noise; it must succeed.
fn simulate_ok(operator: &str, input: &str, output: &str) {
    let o = run(&[
        "simulate",
        "--operator",
        operator,
        "--input",
        input,
        "--output",
        output,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A smooth 48x40 test image in [0.1, 0.9], written as PNG (16-bit, so it round-trips).
fn test_image(dir: &Path) -> PathBuf {
    let img = Array2::from_shape_fn((48, 40), |(i, j)| {
        0.5 + 0.3 * ((i as f32 / 7.0).sin() * (j as f32 / 5.0).cos())
            + if (i as i32 - 24).pow(2) + (j as i32 - 20).pow(2) < 100 {
                0.1
            } else {
                -0.1
            }
    });
    let p = dir.join("x.png");
    posterior::io::write_png(&p, &img.into_dyn().view(), 16).unwrap();
    p
}

fn assert_clean_error(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {e}");
    assert!(e.starts_with("error: "), "stderr: {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
}

#[test]
fn simulate_takes_a_bundled_image_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let ys = y.to_str().unwrap();
    let o = run(&[
        "simulate",
        "--operator",
        "sr:factor=2",
        "--input",
        "camera",
        "--output",
        ys,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    match posterior::io::read_array(&y).unwrap() {
        posterior::io::AnyArray::Real(a) => assert_eq!(a.shape(), &[128, 128]),
        _ => panic!("expected real measurements"),
    }
    let missing = dir.path().join("nosuch.png");
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "denoise",
            "--input",
            missing.to_str().unwrap(),
            "--output",
            ys,
        ]),
        "not a bundled image",
    );
}

#[test]
fn simulate_then_reconstruct_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_image(dir.path());
    let y = dir.path().join("y.npy");
    let o = run(&[
        "simulate",
        "--operator",
        "blur:kernel=gaussian,size=5,std=1.0",
        "--noise",
        "gaussian:sigma=0.001",
        "--input",
        x.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let xhat = dir.path().join("xhat.npy");
    let log = dir.path().join("log.jsonl");
    let o = run(&[
        "reconstruct",
        "--operator",
        "blur:kernel=gaussian,size=5,std=1.0",
        "--measurements",
        y.to_str().unwrap(),
        "--method",
        "mle:iters=40",
        "--output",
        xhat.to_str().unwrap(),
        "--reference",
        x.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let est = match posterior::io::read_array(&xhat).unwrap() {
        posterior::io::AnyArray::Real(a) => a,
        _ => panic!("real estimate expected"),
    };
    let truth: ArrayD<f32> = posterior::io::read_image(&x).unwrap();
    let psnr = posterior::metrics::psnr(est.view(), truth.view(), 1.0);
    assert!(psnr > 30.0, "MLE deblurring PSNR {psnr}");
    // the log holds one JSON object per iteration, with the PSNR against the reference
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("iter").is_some())
        .collect();
    assert!(lines.len() >= 5, "{text}");
    assert!(lines.iter().all(|v| v["psnr"].as_f64().is_some()), "{text}");
}

#[test]
fn apply_and_adjoint_agree_with_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_image(dir.path());
    let y = dir.path().join("y.npy");
    let back = dir.path().join("back.npy");
    let o = run(&[
        "apply",
        "--operator",
        "ct:angles=12",
        "--input",
        x.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
    ]);
    // CT needs a square image: 48x40 is accepted only if the operator supports it
    if !o.status.success() {
        assert_clean_error(&o, "ct");
        return;
    }
    let o = run(&[
        "apply",
        "--operator",
        "ct:angles=12",
        "--adjoint",
        "--shape",
        "48x40",
        "--input",
        y.to_str().unwrap(),
        "--output",
        back.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bench_json_for_every_operator_with_adjoint_and_mle() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_image(dir.path());
    // (operator, noise, PSNR floor for 15 MLE iterations, about 2 dB under the measured
    // value: MLE cannot fill inpainting holes or the null space of CS, hence the low floors)
    let cases = [
        ("denoise", "gaussian:sigma=0.05", 24.0),
        (
            "blur:kernel=gaussian,size=5,std=1.0",
            "gaussian:sigma=0.01",
            23.0,
        ),
        ("sr:factor=2", "gaussian:sigma=0.01", 30.0),
        ("inpaint:keep=0.5,seed=1", "gaussian:sigma=0.01", 8.0),
        ("cs:ratio=0.5,seed=0", "gaussian:sigma=0.01", 9.0),
        ("cs:ratio=0.5,kind=fast,seed=0", "gaussian:sigma=0.01", 9.0),
        ("mri:accel=2,center=0.1,seed=0", "gaussian:sigma=0.01", 31.0),
        ("ct:angles=30", "gaussian:sigma=0.1", 28.0),
    ];
    for (op, noise, floor) in cases {
        for method in ["adjoint", "mle:iters=15"] {
            let o = run(&[
                "bench",
                "--operator",
                op,
                "--noise",
                noise,
                "--method",
                method,
                "--input",
                x.to_str().unwrap(),
                "--json",
            ]);
            assert!(o.status.success(), "{op} {method}: {}", stderr(&o));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
            for key in [
                "psnr",
                "ssim",
                "seconds",
                "iterations",
                "operator",
                "noise",
                "method",
            ] {
                assert!(v.get(key).is_some(), "{op} {method}: missing {key} in {v}");
            }
            let psnr = v["psnr"].as_f64().unwrap();
            assert!(psnr.is_finite(), "{op} {method}: PSNR {psnr}");
            // least squares must recover a recognisable image on every operator (the plain
            // adjoint is unnormalized for CT and CS, so it gets no floor)
            if method.starts_with("mle") {
                assert!(psnr > floor, "{op} {method}: PSNR {psnr} <= {floor}");
                assert!(v["iterations"].as_u64().unwrap() >= 1);
            }
        }
    }
}

#[test]
fn bad_input_gives_a_clear_error_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_image(dir.path());
    let xs = x.to_str().unwrap();
    let out = dir.path().join("o.npy");
    let os = out.to_str().unwrap();
    // unknown operator, unknown key, bad value
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "warp",
            "--input",
            xs,
            "--output",
            os,
        ]),
        "valid operators",
    );
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "blur:sigma=2",
            "--input",
            xs,
            "--output",
            os,
        ]),
        "valid keys",
    );
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "blur:size=-3",
            "--input",
            xs,
            "--output",
            os,
        ]),
        "size",
    );
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "denoise",
            "--noise",
            "laplace:b=1",
            "--input",
            xs,
            "--output",
            os,
        ]),
        "laplace",
    );
    // unreadable and malformed files
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "denoise",
            "--input",
            "/nonexistent/x.png",
            "--output",
            os,
        ]),
        "nonexistent",
    );
    let junk = dir.path().join("junk.npy");
    std::fs::write(&junk, b"\x93NUMPY garbage").unwrap();
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            junk.to_str().unwrap(),
            "--method",
            "adjoint",
            "--output",
            os,
        ]),
        "junk.npy",
    );
    // NaN in the input
    let nan = dir.path().join("nan.npy");
    let mut a = ArrayD::<f32>::zeros(ndarray::IxDyn(&[8, 8]));
    a[[2, 3]] = f32::NAN;
    posterior::io::write_npy_real(&nan, &a.view()).unwrap();
    assert_clean_error(
        &run(&[
            "simulate",
            "--operator",
            "denoise",
            "--input",
            nan.to_str().unwrap(),
            "--output",
            os,
        ]),
        "non-finite",
    );
    // finite but beyond single precision's squared range: refused up front, not reported
    // later as a non-finite derived parameter
    let huge = dir.path().join("huge.npy");
    let a = ArrayD::<f32>::from_elem(ndarray::IxDyn(&[16, 16]), 1e30);
    posterior::io::write_npy_real(&huge, &a.view()).unwrap();
    for method in ["tv", "wavelet", "pnp-admm"] {
        assert_clean_error(
            &run(&[
                "reconstruct",
                "--operator",
                "denoise",
                "--measurements",
                huge.to_str().unwrap(),
                "--method",
                method,
                "--output",
                os,
            ]),
            "rescale",
        );
    }
    assert_clean_error(
        &run(&[
            "apply",
            "--operator",
            "blur",
            "--input",
            huge.to_str().unwrap(),
            "--output",
            os,
        ]),
        "rescale",
    );
    // a ground truth on another intensity scale ([0, 255] here) is refused where it would
    // be scored (bench's input, reconstruct's reference), not scored to a meaningless PSNR;
    // simulating from it stays allowed
    let scale255 = dir.path().join("scale255.npy");
    let a = ArrayD::<f32>::from_shape_fn(ndarray::IxDyn(&[16, 16]), |i| (i[0] * 16) as f32);
    posterior::io::write_npy_real(&scale255, &a.view()).unwrap();
    let s255 = scale255.to_str().unwrap();
    assert_clean_error(
        &run(&[
            "bench",
            "--operator",
            "denoise",
            "--noise",
            "gaussian:sigma=0.1",
            "--method",
            "adjoint",
            "--input",
            s255,
        ]),
        "[0, 240]",
    );
    let y255 = dir.path().join("y255.npy");
    let y255s = y255.to_str().unwrap();
    simulate_ok("denoise", s255, y255s);
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            y255s,
            "--method",
            "adjoint",
            "--output",
            os,
            "--reference",
            s255,
        ]),
        "--reference",
    );
    // wrong shapes between operator and measurements
    let y = dir.path().join("y.npy");
    simulate_ok("denoise", xs, y.to_str().unwrap());
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "sr:factor=3",
            "--measurements",
            y.to_str().unwrap(),
            "--method",
            "adjoint",
            "--output",
            os,
            "--shape",
            "48x40",
        ]),
        "",
    );
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            y.to_str().unwrap(),
            "--method",
            "adjoint",
            "--output",
            os,
            "--shape",
            "0x4",
        ]),
        "shape",
    );
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            y.to_str().unwrap(),
            "--method",
            "adjoint",
            "--output",
            os,
            "--shape",
            "100000x100000",
        ]),
        "large",
    );
    // unknown method, fbp on a non-CT operator
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            y.to_str().unwrap(),
            "--method",
            "magic",
            "--output",
            os,
        ]),
        "valid methods",
    );
    assert_clean_error(
        &run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            y.to_str().unwrap(),
            "--method",
            "fbp",
            "--output",
            os,
        ]),
        "CT",
    );
    // nothing was written by the failed runs
    assert!(!out.exists());
}

#[test]
fn help_and_list_document_the_specs() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for word in [
        "blur", "ct", "mri", "inpaint", "gaussian", "poisson", "mle", "fbp",
    ] {
        assert!(s.contains(word), "--help lacks {word}");
    }
    let o = run(&["list"]);
    assert!(o.status.success());
    let o = run(&["simulate", "--help"]);
    assert!(o.status.success());
}

/// `reconstruct --json`: one JSON object on stdout whose scores equal the library's
/// metrics on the written estimate (clipped to [0, 1]; magnitude for complex estimates).
#[test]
fn reconstruct_json_record() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_image(dir.path());
    let truth: ArrayD<f32> = posterior::io::read_image(&x).unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let blur = "blur:kernel=gaussian,size=5,std=1.0";
    let o = run(&[
        "simulate",
        "--operator",
        blur,
        "--noise",
        "gaussian:sigma=0.01",
        "--input",
        x.to_str().unwrap(),
        "--output",
        &path("y.npy"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reconstruct = |op: &str, y: &str, method: &str, out: &str, reference: bool| {
        let mut args = vec![
            "reconstruct",
            "--operator",
            op,
            "--measurements",
            y,
            "--method",
            method,
            "--output",
            out,
            "--quiet",
            "--json",
        ];
        if reference {
            args.extend(["--reference", x.to_str().unwrap()]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "one line on stdout: {text}");
        serde_json::from_str::<serde_json::Value>(text.trim()).unwrap()
    };
    let v = reconstruct(blur, &path("y.npy"), "mle:iters=7", &path("e.npy"), true);
    assert_eq!(v["method"], "mle:iters=7");
    assert_eq!(v["operator"], blur);
    assert_eq!(v["iterations"], 7, "{v}");
    // the least-squares objective 1/2 |A x - y|^2 of the last iterate is positive
    assert_eq!(v["objective_iter"], 7, "{v}");
    assert!(v["objective"].as_f64().is_some_and(|o| o > 0.0), "{v}");
    assert!(v["termination"].as_str().is_some_and(|t| !t.is_empty()));
    let secs = v["seconds"].as_f64().unwrap();
    assert!(secs > 0.0 && secs < 60.0, "{v}");
    assert!(v["counts"]["forward"].as_u64().unwrap() >= 7, "{v}");
    assert!(v["counts"]["adjoint"].as_u64().unwrap() >= 7, "{v}");
    let est = match posterior::io::read_array(path("e.npy")).unwrap() {
        posterior::io::AnyArray::Real(a) => a,
        _ => panic!("real estimate expected"),
    };
    let clipped = est.mapv(|v| v.clamp(0.0, 1.0));
    let psnr = posterior::metrics::psnr(clipped.view(), truth.view(), 1.0);
    let ssim = posterior::metrics::ssim_uniform7(clipped.view(), truth.view(), 1.0).unwrap();
    assert!(
        (v["psnr"].as_f64().unwrap() - psnr).abs() < 1e-9,
        "{v} vs {psnr}"
    );
    assert!(
        (v["ssim"].as_f64().unwrap() - ssim).abs() < 1e-9,
        "{v} vs {ssim}"
    );
    assert!(psnr > 25.0 && ssim > 0.5, "{psnr} {ssim}");
    // without --reference there is no score
    let v = reconstruct(blur, &path("y.npy"), "adjoint", &path("a.npy"), false);
    assert!(v.get("psnr").is_none() && v.get("ssim").is_none(), "{v}");
    assert_eq!(v["iterations"], 0);
    assert!(v["objective"].is_null() && v["objective_iter"].is_null());

    // complex MRI with a row mask read from a file: scored on the magnitude
    let rows: Vec<f32> = (0..48)
        .map(|r| f32::from(r % 3 == 0 || (20..28).contains(&r)))
        .collect();
    let mask = ArrayD::from_shape_vec(ndarray::IxDyn(&[48]), rows).unwrap();
    posterior::io::write_npy_real(path("rows.npy"), &mask.view()).unwrap();
    let mri = format!("mri:mask={},complex=true", path("rows.npy"));
    let o = run(&[
        "simulate",
        "--operator",
        &mri,
        "--input",
        x.to_str().unwrap(),
        "--output",
        &path("k.npy"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = reconstruct(&mri, &path("k.npy"), "adjoint", &path("zf.npy"), true);
    let zf = match posterior::io::read_array(path("zf.npy")).unwrap() {
        posterior::io::AnyArray::Complex(a) => a.mapv(|c| c.norm().clamp(0.0, 1.0)),
        _ => panic!("complex estimate expected"),
    };
    let psnr = posterior::metrics::psnr(zf.view(), truth.view(), 1.0);
    let ssim = posterior::metrics::ssim_uniform7(zf.view(), truth.view(), 1.0).unwrap();
    assert!(
        (v["psnr"].as_f64().unwrap() - psnr).abs() < 1e-9,
        "{v} vs {psnr}"
    );
    assert!(
        (v["ssim"].as_f64().unwrap() - ssim).abs() < 1e-9,
        "{v} vs {ssim}"
    );
    assert!(
        v["operator_describe"]
            .as_str()
            .unwrap()
            .contains("mask file"),
        "{v}"
    );
    // a mask of the wrong size is one clear error line
    let o = run(&[
        "apply",
        "--operator",
        &mri,
        "--input",
        &path("k.npy"),
        "--output",
        &path("bad.npy"),
        "--adjoint",
        "--shape",
        "40x48",
    ]);
    assert_clean_error(&o, "MRI mask");
}

#[test]
fn tiny_images_are_scored_without_ssim_and_bundled_names_take_the_size_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let img = ArrayD::<f32>::from_shape_fn(ndarray::IxDyn(&[9, 9]), |i| {
        0.2 + 0.06 * (i[0] + i[1]) as f32 / 2.0
    });
    posterior::io::write_npy_real(&x, &img.view()).unwrap();
    let y = dir.path().join("y.npy");
    let out = dir.path().join("o.npy");
    let (xs, ys, os) = (
        x.to_str().unwrap(),
        y.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    simulate_ok("denoise", xs, ys);
    // 9x9: below SSIM's 11x11 Gaussian window, above the 7x7 uniform one of the JSON
    let o = run(&[
        "reconstruct",
        "--operator",
        "denoise",
        "--measurements",
        ys,
        "--method",
        "tv",
        "--output",
        os,
        "--reference",
        xs,
        "--json",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("SSIM n/a"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["psnr"].is_number() && v["ssim"].is_number(), "{v}");
    assert!(out.exists());
    let o = run(&[
        "bench",
        "--operator",
        "denoise",
        "--method",
        "tv",
        "--input",
        xs,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["ssim"].is_null() && v["psnr"].is_number(), "{v}");
    let o = run(&[
        "bench",
        "--operator",
        "denoise",
        "--method",
        "adjoint",
        "--input",
        "coins_256",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_stdout_that_cannot_be_written_is_an_error_not_a_panic() {
    // /dev/full accepts the open and fails every write (ENOSPC), like a closed pipe fails
    // with EPIPE; `println!` would panic on either.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        panic!("/dev/full is needed by this test (Linux)");
    };
    let o = bin()
        .arg("list")
        .stdout(full)
        .output()
        .expect("binary runs");
    assert_clean_error(&o, "cannot write the result");
}

#[test]
fn direct_methods_write_their_log_and_png_outputs_report_clipping() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_image(dir.path());
    let y = dir.path().join("y.png");
    // noise of 0.2 leaves [0, 1]: the PNG measurements are clipped, and the note says so
    let o = run(&[
        "simulate",
        "--operator",
        "denoise",
        "--noise",
        "gaussian:sigma=0.2",
        "--input",
        x.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("were clipped in the PNG"),
        "{}",
        stderr(&o)
    );
    // within [0, 1] there is no note
    let y2 = dir.path().join("y2.png");
    let o = run(&[
        "simulate",
        "--operator",
        "denoise",
        "--input",
        x.to_str().unwrap(),
        "--output",
        y2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("clipped"), "{}", stderr(&o));

    // a direct method with --log writes its summary line
    let ynpy = dir.path().join("y.npy");
    let o = run(&[
        "simulate",
        "--operator",
        "blur:kernel=gaussian,size=5,std=1",
        "--input",
        x.to_str().unwrap(),
        "--output",
        ynpy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = dir.path().join("log.jsonl");
    let o = run(&[
        "reconstruct",
        "--operator",
        "blur:kernel=gaussian,size=5,std=1",
        "--measurements",
        ynpy.to_str().unwrap(),
        "--method",
        "adjoint",
        "--output",
        dir.path().join("xa.npy").to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).expect("the log exists");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["summary"]["iterations"], 0, "{text}");
    assert_eq!(v["summary"]["termination"]["reason"], "direct", "{text}");
    assert_eq!(v["summary"]["adjoint"], 1, "{text}");
}

#[test]
fn reconstruct_takes_the_noise_model_and_a_bundled_reference() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let op = "cs:ratio=0.3,kind=fast,seed=2";
    let o = run(&[
        "simulate",
        "--operator",
        op,
        "--noise",
        "gaussian:sigma=0.01",
        "--input",
        "camera",
        "--output",
        y.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let xhat = dir.path().join("xhat.npy");
    let reconstruct = |extra: &[&str]| {
        let mut args = vec![
            "reconstruct",
            "--operator",
            op,
            "--measurements",
            y.to_str().unwrap(),
            "--shape",
            "256x256",
            "--method",
            "tv:iters=30",
            "--output",
            xhat.to_str().unwrap(),
            "--reference",
            "camera",
            "--quiet",
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Compressed-sensing data cannot tell their own noise level: a clear error, no output.
    assert_clean_error(&reconstruct(&[]), "--noise gaussian:sigma=");
    assert!(!xhat.exists());
    let o = reconstruct(&["--noise", "gaussian:sigma=0.01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let psnr = v["psnr"].as_f64().unwrap();
    assert!(psnr > 28.0, "TV on 30% CS of camera: {psnr}");
    assert!(stderr(&o).contains("lambda = 1.000e-3"), "{}", stderr(&o));
    assert_clean_error(&reconstruct(&["--noise", "gausian:sigma=0.01"]), "gausian");
    assert_clean_error(&reconstruct(&["--noise", "gaussian:sigma=-1"]), "sigma");
}

/// `train denoiser --resume` keeps the checkpoint's network: the log states the network
/// actually trained, and a flag asking for another value is a clean error, not ignored.
#[test]
fn resumed_training_keeps_and_reports_the_checkpoint_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(test_image(dir.path()), data.join("a.png")).unwrap();
    let out = dir.path().join("d.safetensors");
    let ckpt = dir.path().join("d.ckpt");
    let common = |steps: &'static str| {
        vec![
            "train".to_string(),
            "denoiser".into(),
            "--data".into(),
            data.to_str().unwrap().into(),
            "--val".into(),
            data.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
            "--checkpoint".into(),
            ckpt.to_str().unwrap().into(),
            "--steps".into(),
            steps.into(),
        ]
    };
    let go = |extra: &[&str], steps: &'static str| {
        let mut a = common(steps);
        a.extend(extra.iter().map(|s| s.to_string()));
        bin().args(&a).output().expect("binary runs")
    };
    let small = [
        "--features",
        "4",
        "--depth",
        "3",
        "--batch",
        "2",
        "--patch",
        "8",
    ];
    let o = go(&small, "2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("3 layers of 4 features"),
        "{}",
        stderr(&o)
    );
    // Without the architecture flags the resumed run is still the 4-feature one.
    let o = go(&["--resume"], "3");
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("3 layers of 4 features"), "{e}");
    assert!(e.contains("resumed at step 2"), "{e}");
    // The same values given again are fine; another value is refused, naming both.
    let o = go(&["--resume", "--features", "4", "--patch", "8"], "4");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = go(&["--resume", "--features", "8", "--seed", "3"], "5");
    assert_clean_error(&o, "--features 8 (the checkpoint's: 4)");
    assert_clean_error(&o, "--seed 3 (the checkpoint's: 0)");
    let o = go(&["--resume", "--sigma-max", "50"], "5");
    assert_clean_error(&o, "--sigma-max 50 (the checkpoint's: 60)");
    // The refused command left the checkpoint at step 4: resuming to 5 still works.
    let o = go(&["--resume"], "5");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resumed at step 4"), "{}", stderr(&o));
    // Other scales need a new phase (--lr); with one they are taken and reported.
    let o = go(&["--resume", "--scales", "1,0.5"], "6");
    assert_clean_error(&o, "--scales [1.0, 0.5] (the checkpoint's: [1.0])");
    let o = go(&["--resume", "--patch", "10"], "6");
    assert_clean_error(&o, "--patch 10 (the checkpoint's: 8)");
    let o = go(
        &[
            "--resume", "--scales", "1,0.5", "--patch", "10", "--lr", "1e-4",
        ],
        "6",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("at scales 1, 0.5 ("), "{}", stderr(&o));
    assert!(stderr(&o).contains("patches 10x10"), "{}", stderr(&o));
    let o = go(&["--resume", "--scales", "1,1.5", "--lr", "1e-4"], "7");
    assert_clean_error(&o, "each scale must be in (0, 1], got 1.5");
    // So do dead-leaves images.
    let o = go(&["--resume", "--dead-leaves", "2"], "7");
    assert_clean_error(&o, "--dead-leaves 2 (the checkpoint's: 0)");
    let o = go(&["--resume", "--dead-leaves", "2", "--lr", "1e-4"], "7");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("and 2 dead-leaves images (131072 pixels)"),
        "{}",
        stderr(&o)
    );
    // The manifest entry names them with the folder's images.
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        entry["data"].as_str().unwrap(),
        format!(
            "{}: a.png; and 2 generated dead-leaves images (--dead-leaves, seed 0)",
            data.display()
        )
    );
    // And ellipse phantoms, beside them.
    let o = go(&["--resume", "--ellipses", "3"], "8");
    assert_clean_error(&o, "--ellipses 3 (the checkpoint's: 0)");
    let o = go(&["--resume", "--ellipses", "3", "--lr", "1e-4"], "8");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "and 2 dead-leaves images (131072 pixels) and 3 ellipse phantoms (196608 pixels)"
        ),
        "{}",
        stderr(&o)
    );
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        entry["data"].as_str().unwrap(),
        format!(
            "{}: a.png; and 2 generated dead-leaves images (--dead-leaves, seed 0); \
             and 3 generated ellipse phantoms (--ellipses, seed 0)",
            data.display()
        )
    );
    // And aliased phantoms, after those.
    let o = go(&["--resume", "--aliased-ellipses", "2"], "9");
    assert_clean_error(&o, "--aliased-ellipses 2 (the checkpoint's: 0)");
    let o = go(
        &["--resume", "--aliased-ellipses", "2", "--lr", "1e-4"],
        "9",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "and 3 ellipse phantoms (196608 pixels) and 2 aliased ellipse phantoms (131072 pixels)"
        ),
        "{}",
        stderr(&o)
    );
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        entry["data"].as_str().unwrap().ends_with(
            "and 3 generated ellipse phantoms (--ellipses, seed 0); \
             and 2 generated aliased ellipse phantoms (--aliased-ellipses, seed 0)"
        ),
        "{entry}"
    );
    // And resampled phantoms, after those.
    let o = go(&["--resume", "--resampled-ellipses", "2"], "10");
    assert_clean_error(&o, "--resampled-ellipses 2 (the checkpoint's: 0)");
    let o = go(
        &["--resume", "--resampled-ellipses", "2", "--lr", "1e-4"],
        "10",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "and 2 aliased ellipse phantoms (131072 pixels) and 2 resampled ellipse phantoms (131072 pixels)"
        ),
        "{}",
        stderr(&o)
    );
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        entry["data"].as_str().unwrap().ends_with(
            "and 2 generated aliased ellipse phantoms (--aliased-ellipses, seed 0); \
             and 2 generated resampled ellipse phantoms (--resampled-ellipses, seed 0)"
        ),
        "{entry}"
    );
}

/// `train denoiser --levels L` trains the UNet: the log and the manifest entry name it,
/// patches must suit its resolutions, and a resumed run keeps its levels (and its loss).
#[test]
fn unet_denoiser_training_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(test_image(dir.path()), data.join("a.png")).unwrap();
    let out = dir.path().join("u.safetensors");
    let go = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "denoiser",
            "--data",
            data.to_str().unwrap(),
            "--val",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let small = [
        "--levels",
        "2",
        "--depth",
        "1",
        "--features",
        "4",
        "--batch",
        "2",
        "--steps",
        "2",
    ];
    let o = go(&[&small[..], &["--patch", "10"]].concat());
    assert_clean_error(&o, "must be a multiple of 4");
    let o = go(&[&small[..], &["--patch", "8", "--loss", "l2"]].concat());
    assert_clean_error(&o, "unknown loss `l2`; valid: mse, l1");
    let o = go(&[&small[..], &["--patch", "8", "--loss", "l1"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("training unet-residual (2 levels of 1 residual block, 4-8 features,"),
        "{e}"
    );
    assert!(e.contains("patches 8x8, L1 loss"), "{e}");
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(entry["kind"], "unet-residual");
    assert_eq!(entry["config"]["levels"], 2);
    assert!(entry["config"].get("output_scale").is_none(), "{entry}");
    let o = go(&[
        "--resume",
        "--steps",
        "3",
        "--levels",
        "3",
        "--loss",
        "mse",
        "--output-scale",
        "knee:10",
    ]);
    assert_clean_error(&o, "--levels 3 (the checkpoint's: 2)");
    assert_clean_error(&o, "--loss mse (the checkpoint's: l1)");
    assert_clean_error(&o, "--output-scale knee:10 (the checkpoint's: one)");
    let o = go(&["--resume", "--steps", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 levels of 1 residual block"),
        "{}",
        stderr(&o)
    );
    // A scaled output: named in the header, recorded in the manifest entry, kept by a
    // resumed run without the flag, and bad values refused.
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(dir.path().join("u.safetensors.ckpt")).unwrap();
    let o = go(&[&small[..], &["--patch", "8", "--output-scale", "knee:0"]].concat());
    assert_clean_error(&o, "unknown output scale `knee:0`");
    let o = go(&[&small[..], &["--patch", "8", "--output-scale", "knee:10"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("4-8 features, noise scaled by σ/√(σ² + k²), k = 10/255,"),
        "{}",
        stderr(&o)
    );
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        entry["config"]["output_scale"]["knee"].is_number(),
        "{entry}"
    );
    let o = go(&["--resume", "--steps", "3", "--output-scale", "knee:10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["config"], entry["config"]);
}

/// `train denoiser --init W` starts from trained weights: the network flags default to the
/// file's, a UNet may grow by residual blocks and then starts exactly where the file's
/// ends, the run records where it started, and clashing flags are refused clearly.
#[test]
fn denoiser_training_from_trained_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let img = test_image(dir.path());
    std::fs::copy(&img, data.join("a.png")).unwrap();
    let go = |out: &std::path::Path, extra: &[&str]| {
        let mut a = vec![
            "train",
            "denoiser",
            "--data",
            data.to_str().unwrap(),
            "--val",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--batch",
            "2",
            "--patch",
            "8",
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let first = dir.path().join("first.safetensors");
    let o = go(
        &first,
        &[
            "--levels",
            "2",
            "--depth",
            "1",
            "--features",
            "4",
            "--steps",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let sha = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();

    // Zero steps are refused, so the grown network's start is checked through a
    // one-step run at a tiny rate: its denoised image stays next to the original's.
    let grown = dir.path().join("grown.safetensors");
    let o = go(
        &grown,
        &[
            "--init",
            first.to_str().unwrap(),
            "--depth",
            "2",
            "--steps",
            "1",
            "--lr",
            "1e-12",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("training unet-residual (2 levels of 2 residual blocks, 4-8 features,"),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "starting from first.safetensors (sha256 {sha}, unet-residual 2x1x4, 2 steps)"
        )),
        "{e}"
    );
    assert!(!e.contains("resumed at step"), "{e}");
    let entry: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(entry["config"]["depth"], 2);
    assert_eq!(entry["steps"], 1);
    let noisy = dir.path().join("noisy.npy");
    let o = run(&[
        "simulate",
        "--operator",
        "denoise",
        "--noise",
        "gaussian:sigma=0.1",
        "--input",
        img.to_str().unwrap(),
        "--output",
        noisy.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let den = |w: &std::path::Path, name: &str| -> ArrayD<f32> {
        let out = dir.path().join(name);
        let spec = format!("learned:sigma=0.1,weights={}", w.display());
        let o = run(&[
            "reconstruct",
            "--operator",
            "denoise",
            "--measurements",
            noisy.to_str().unwrap(),
            "--method",
            &spec,
            "--output",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        match posterior::io::read_array(&out).unwrap() {
            posterior::io::AnyArray::Real(a) => a,
            _ => panic!("real estimate expected"),
        }
    };
    let a = den(&first, "a.npy");
    let b = den(&grown, "b.npy");
    let diff = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "grown network differs by {diff}");

    // The file's network by default; other shapes, and --resume, refused clearly.
    let same = dir.path().join("same.safetensors");
    let o = go(&same, &["--init", first.to_str().unwrap(), "--steps", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 levels of 1 residual block"),
        "{}",
        stderr(&o)
    );
    let o = go(
        &same,
        &[
            "--init",
            first.to_str().unwrap(),
            "--features",
            "8",
            "--steps",
            "1",
        ],
    );
    assert_clean_error(&o, "cannot start from a unet-residual");
    let o = go(
        &same,
        &[
            "--init",
            first.to_str().unwrap(),
            "--resume",
            "--steps",
            "2",
        ],
    );
    assert_clean_error(&o, "--init starts a new run from trained weights");
    // A shipped network by name (its SHA-256 checked), and an unknown name.
    let o = go(&same, &["--init", "net=unet", "--steps", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("3 levels of 2 residual blocks, 32-64-128 features"),
        "{e}"
    );
    let sha = posterior_nn::learned::shipped_entry("denoiser-gray-unet")
        .unwrap()
        .sha256;
    assert!(
        e.contains(&format!(
            "starting from denoiser-gray-unet.safetensors (sha256 {sha}, unet-residual 3x2x32, 5000 steps)"
        )),
        "{e}"
    );
    let o = go(&same, &["--init", "net=bogus", "--steps", "1"]);
    assert_clean_error(
        &o,
        "unknown shipped network `bogus`; valid: plain, unet, phantom",
    );
    let o = go(&same, &["--init", img.to_str().unwrap(), "--steps", "1"]);
    assert!(!o.status.success());
    let o = go(
        &same,
        &[
            "--init",
            dir.path().join("none").to_str().unwrap(),
            "--steps",
            "1",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("none"), "{}", stderr(&o));
}

/// `train vae|gan --resume` takes the checkpoint's settings without repeating the flags,
/// refuses flags that disagree with them, and refuses the other model's checkpoint.
#[test]
fn resumed_generative_training_takes_the_checkpoint_settings() {
    let dir = tempfile::tempdir().unwrap();
    let stack = ndarray::Array3::from_shape_fn((8, 28, 28), |(n, i, j)| {
        (((i + j + n) % 7) as f32 / 7.0).clamp(0.0, 1.0)
    });
    let data = dir.path().join("stack.npy");
    posterior::io::write_array(&data, &posterior::io::AnyArray::Real(stack.into_dyn())).unwrap();
    let out = dir.path().join("v.safetensors");
    let go = |what: &str, extra: &[&str]| {
        let mut a: Vec<&str> = vec![
            "train",
            what,
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let small = [
        "--steps", "2", "--batch", "4", "--hidden", "8", "--latent", "3",
    ];
    let o = go("vae", &small);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = go("vae", &["--resume", "--steps", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resumed at step 2"), "{}", stderr(&o));
    let o = go("vae", &["--resume", "--steps", "4", "--latent", "5"]);
    assert_clean_error(&o, "--latent 5 (the checkpoint's: 3)");
    let o = go("gan", &["--resume", "--steps", "4"]);
    assert_clean_error(&o, "holds a VAE checkpoint, not a GAN");
}

/// The `[default: N]` of the train flags that are optional (so that a resumed run can tell
/// "not given" from "given") are written by hand in the help: they must be the library's.
#[test]
fn train_help_states_the_library_defaults() {
    use posterior_nn::generative::gan::GanConfig;
    use posterior_nn::generative::vae::VaeConfig;
    use posterior_nn::train::TrainConfig;
    let help = |what: &str| {
        let o = bin()
            .args(["train", what, "--help"])
            .output()
            .expect("binary runs");
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // The help of `flag`: its line and those below it up to the next flag (clap puts the
    // text on the flag's line in the short layout, below it in the long one).
    let doc = |text: &str, flag: &str| -> String {
        let mut lines = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&format!("{flag} ")));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("{flag} missing from the help"));
        let rest: Vec<&str> = lines
            .take_while(|l| !l.trim_start().starts_with('-'))
            .collect();
        format!("{first} {}", rest.join(" "))
    };
    let d = TrainConfig::default();
    let den = help("denoiser");
    let scales: Vec<String> = d.scales.iter().map(|s| s.to_string()).collect();
    for (flag, value) in [
        ("--seed", d.seed.to_string()),
        ("--batch", d.batch.to_string()),
        ("--patch", d.patch.to_string()),
        ("--lr", d.lr.to_string()),
        ("--sigma-max", (d.sigma_max * 255.0).round().to_string()),
        ("--depth", d.net.depth.to_string()),
        ("--features", d.net.features.to_string()),
        ("--validate-every", d.validate_every.to_string()),
        ("--checkpoint-every", d.checkpoint_every.to_string()),
        ("--scales", scales.join(",")),
        ("--dead-leaves", d.dead_leaves.to_string()),
        ("--ellipses", d.ellipses.to_string()),
        ("--aliased-ellipses", d.aliased_ellipses.to_string()),
        ("--resampled-ellipses", d.resampled_ellipses.to_string()),
    ] {
        let line = doc(&den, flag);
        assert!(
            line.contains(&format!("[default: {value}]")),
            "{flag}: expected [default: {value}] in {line:?}"
        );
    }
    let vae = help("vae");
    let (v, g) = (VaeConfig::default(), GanConfig::default());
    assert_eq!(v.latent, g.latent, "one --latent default for both models");
    for (flag, value) in [
        ("--seed", "0".to_string()),
        ("--latent", v.latent.to_string()),
        ("--hidden", v.hidden.to_string()),
        ("--features", g.features.to_string()),
    ] {
        let line = doc(&vae, flag);
        assert!(
            line.contains(&format!("[default: {value}]")),
            "{flag}: expected [default: {value}] in {line:?}"
        );
    }
    let gen_seed = posterior_nn::generative::train::GenTrainConfig::vae(v).seed;
    assert_eq!(gen_seed, 0);
}
