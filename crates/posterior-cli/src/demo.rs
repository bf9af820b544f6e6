//! `posterior demo`: a small gallery on bundled data, written as PNGs and an HTML report.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use ndarray::ArrayD;
use posterior::io::{self, AnyArray};
use posterior::{Error, Result};

use crate::bench::bench_once;

/// Arguments of `posterior demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder (created if needed).
    #[arg(long, default_value = "posterior-demo")]
    pub out: PathBuf,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// One gallery row: an image, a forward model, a noise model and the methods to compare.
struct Case {
    title: &'static str,
    image: &'static str,
    operator: &'static str,
    noise: &'static str,
    methods: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        title: "Denoising",
        image: "camera",
        operator: "denoise",
        noise: "gaussian:sigma=0.1",
        methods: &["adjoint", "tv", "wavelet", "bm3d", "learned"],
    },
    Case {
        title: "Deblurring (Gaussian 9x9, std 1.6)",
        image: "camera",
        operator: "blur:kernel=gaussian,size=9,std=1.6",
        noise: "gaussian:sigma=0.01",
        methods: &[
            "adjoint",
            "mle:iters=50",
            "tikhonov",
            "tv",
            "dpir:denoiser=learned",
        ],
    },
    Case {
        title: "Motion deblurring (length 11, 30°, reflect boundary)",
        image: "coffee",
        operator: "blur:kernel=motion,length=11,angle=30,boundary=reflect",
        noise: "gaussian:sigma=0.01",
        methods: &["adjoint", "mle:iters=30", "tv:iters=150"],
    },
    Case {
        title: "Super-resolution x2",
        image: "astronaut",
        operator: "sr:factor=2",
        noise: "gaussian:sigma=0.01",
        methods: &["adjoint", "mle:iters=30", "tv:iters=150"],
    },
    Case {
        title: "Inpainting (30% of pixels kept)",
        image: "chelsea",
        operator: "inpaint:keep=0.3,seed=0",
        noise: "gaussian:sigma=0.01",
        methods: &["adjoint", "tv:iters=300"],
    },
    Case {
        title: "Compressed sensing (structured, 50% measurements)",
        image: "coins",
        operator: "cs:ratio=0.5,kind=fast,seed=0",
        noise: "gaussian:sigma=0.01",
        methods: &["adjoint", "mle:iters=30", "dct:iters=100", "tv:iters=200"],
    },
    Case {
        title: "MRI, 4x Cartesian, 8% centre",
        image: "mri_brain",
        operator: "mri:accel=4,center=0.08,seed=0",
        noise: "gaussian:sigma=0.01",
        methods: &["adjoint", "wavelet", "tv"],
    },
    Case {
        title: "Compressed sensing of a held-out MNIST digit, 100 Gaussian measurements: generative priors",
        image: "mnist-test:305",
        operator: "cs:m=100,seed=0",
        noise: "gaussian:sigma=0.01",
        methods: &[
            "adjoint",
            "tv",
            "wavelet:wavelet=db4,levels=2",
            "csgm:prior=vae,restarts=5,iters=300",
            "csgm:prior=gan,restarts=5,iters=300",
            "csgm-sparse:prior=vae,restarts=5,iters=300",
        ],
    },
    Case {
        title: "CT, 60 angles",
        image: "shepp_logan",
        operator: "ct:angles=60",
        noise: "gaussian:sigma=0.5",
        methods: &[
            "fbp:filter=ramp",
            "fbp:filter=hann",
            "mle:iters=30,positive=true",
            "tv:nonneg=true,iters=300",
        ],
    },
];

fn visualize(y: &AnyArray) -> Option<ArrayD<f32>> {
    let v = match y {
        AnyArray::Real(a) if a.ndim() == 2 => a.clone(),
        AnyArray::Complex(a) if a.ndim() == 2 => a.mapv(|c| (1.0 + 1e3 * c.norm()).ln()),
        _ => return None,
    };
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = (hi - lo).max(1e-12);
    Some(v.mapv(|t| (t - lo) / span))
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `posterior demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out).map_err(|e| Error::Io {
        path: args.out.clone(),
        reason: e.to_string(),
    })?;
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>posterior demo</title>\
<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:4px;text-align:center}\
img{width:200px;image-rendering:pixelated}figcaption{font-size:12px;max-width:200px}</style></head><body>\
<h1>posterior demo</h1><p>Bundled images, simulated measurements y = A x + n, reconstructions with the \
methods available. PSNR/SSIM are computed on the estimate clipped to [0, 1]; times cover the reconstruction only.</p>\n",
    );
    let total: usize = CASES.iter().map(|c| c.methods.len()).sum();
    let mut done = 0;
    for (ci, case) in CASES.iter().enumerate() {
        let x = match case.image.strip_prefix("mnist-test:") {
            Some(i) => posterior_nn::generative::digits::bundled_mnist_test()?.image(
                i.parse()
                    .map_err(|_| Error::param("demo image", case.image))?,
            ),
            None => posterior::data::bundled(case.image)?.into_dyn(),
        };
        let _ = writeln!(
            html,
            "<h2>{}</h2><p><code>--operator {} --noise {}</code> on <code>{}</code></p>",
            case.title, case.operator, case.noise, case.image
        );
        let truth = args.out.join(format!("{ci:02}_truth.png"));
        io::write_png(&truth, &x.view(), 8)?;
        let _ = write!(
            html,
            "<figure><img src=\"{}\"><figcaption>ground truth</figcaption></figure>",
            truth.file_name().unwrap().to_string_lossy()
        );
        let mut shown_measurement = false;
        for m in case.methods {
            done += 1;
            eprintln!("[{done}/{total}] {}: {m}", case.title);
            let (res, y, xhat) = bench_once(case.operator, case.noise, m, &x, args.seed)?;
            if !shown_measurement {
                shown_measurement = true;
                if let Some(v) = visualize(&y) {
                    let p = args.out.join(format!("{ci:02}_measurements.png"));
                    io::write_png(&p, &v.view(), 8)?;
                    let _ = write!(
                        html,
                        "<figure><img src=\"{}\"><figcaption>measurements (display scaled)</figcaption></figure>",
                        p.file_name().unwrap().to_string_lossy()
                    );
                }
            }
            let est = posterior::methods::real_image(&xhat);
            let p = args.out.join(format!("{ci:02}_{}.png", slug(m)));
            io::write_png(&p, &est.view(), 8)?;
            let _ = write!(
                html,
                "<figure><img src=\"{}\"><figcaption><code>{m}</code><br>{:.2} dB, SSIM {}, {:.3} s, {} it.</figcaption></figure>",
                p.file_name().unwrap().to_string_lossy(),
                res.psnr,
                crate::fmt_ssim(res.ssim, 3),
                res.seconds,
                res.iterations
            );
            eprintln!(
                "        PSNR {:.2} dB  SSIM {}  {:.3} s",
                res.psnr,
                crate::fmt_ssim(res.ssim, 4),
                res.seconds
            );
        }
        html.push('\n');
    }
    html.push_str("</body></html>\n");
    let index = args.out.join("index.html");
    io::atomic_write(&index, |w| w.write_all(html.as_bytes()))?;
    eprintln!("report written to {}", index.display());
    Ok(())
}
