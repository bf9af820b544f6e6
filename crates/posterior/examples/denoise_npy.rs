//! Denoise a `.npy` image with any denoiser spec and report the time: the Rust half of
//! `scripts/peers/nlm_reference.py`.
//!
//! Usage: `denoise_npy SPEC NOISY.npy SIGMA OUT.npy [REPEATS]` with `SIGMA` on the `[0, 1]`
//! scale and `REPEATS` (default 3). Prints one JSON line:
//! `{"spec": ..., "describe": ..., "seconds": median, "min_seconds": min, "threads": n}`.

use std::time::Instant;

use posterior::Spec;
use posterior::denoise::build_denoiser;
use posterior::io::{AnyArray, read_array, write_npy_real};

fn main() -> posterior::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: denoise_npy SPEC NOISY.npy SIGMA OUT.npy [REPEATS]");
        std::process::exit(2);
    }
    let denoiser = build_denoiser(&Spec::parse(&args[1])?)?;
    let noisy = match read_array(&args[2])? {
        AnyArray::Real(a) => a,
        AnyArray::Complex(_) => {
            return Err(posterior::Error::param("input", "expected a real array"));
        }
    };
    let sigma: f32 = args[3]
        .parse()
        .map_err(|_| posterior::Error::param("sigma", format!("not a number: {}", args[3])))?;
    let repeats: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let mut times = Vec::with_capacity(repeats);
    let mut out = None;
    for _ in 0..repeats {
        let t = Instant::now();
        let x = denoiser.denoise(noisy.view(), sigma)?;
        times.push(t.elapsed().as_secs_f64());
        out = Some(x);
    }
    let out = out.expect("repeats >= 1");
    write_npy_real(&args[4], &out.view())?;
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"spec\": \"{}\", \"describe\": \"{}\", \"seconds\": {:.4}, \"min_seconds\": {:.4}, \"threads\": {}}}",
        args[1],
        denoiser.describe(),
        times[times.len() / 2],
        times[0],
        rayon::current_num_threads()
    );
    Ok(())
}
