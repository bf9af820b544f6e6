//! Denoise a `.npy` image with BM3D and report the time: the Rust half of
//! `scripts/peers/bm3d_reference.py`.
//!
//! Usage: `bm3d_npy NOISY.npy SIGMA OUT.npy [PROFILE] [REPEATS]` with `SIGMA` on the
//! `[0, 1]` scale, `PROFILE` = auto | np | high (default auto) and `REPEATS` (default 3).
//! Prints one JSON line: `{"seconds": median, "min_seconds": min, "threads": n}`.

use std::time::Instant;

use posterior::Spec;
use posterior::denoise::build_denoiser;
use posterior::io::{AnyArray, read_array, write_npy_real};

fn main() -> posterior::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bm3d_npy NOISY.npy SIGMA OUT.npy [PROFILE] [REPEATS]");
        std::process::exit(2);
    }
    let noisy = match read_array(&args[1])? {
        AnyArray::Real(a) => a,
        AnyArray::Complex(_) => {
            return Err(posterior::Error::param("input", "expected a real array"));
        }
    };
    let sigma: f32 = args[2]
        .parse()
        .map_err(|_| posterior::Error::param("sigma", format!("not a number: {}", args[2])))?;
    let profile = args.get(4).map(String::as_str).unwrap_or("auto");
    let repeats: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let denoiser = build_denoiser(&Spec::parse(&format!("bm3d:profile={profile}"))?)?;
    let mut times = Vec::with_capacity(repeats);
    let mut out = None;
    for _ in 0..repeats {
        let t = Instant::now();
        let x = denoiser.denoise(noisy.view(), sigma)?;
        times.push(t.elapsed().as_secs_f64());
        out = Some(x);
    }
    let out = out.expect("repeats >= 1");
    write_npy_real(&args[3], &out.view())?;
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"seconds\": {:.4}, \"min_seconds\": {:.4}, \"threads\": {}}}",
        times[times.len() / 2],
        times[0],
        rayon::current_num_threads()
    );
    Ok(())
}
