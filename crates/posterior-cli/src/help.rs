//! The catalogue of operators, noise models and methods shown by `--help` and `list`.

use std::fmt::Write;

/// Operators, noise models and methods with their keys, from the library's registries.
pub fn catalogue() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "SPECS are name[:key=value,...]\n\nOPERATORS (--operator)"
    );
    for e in posterior::ops::registry() {
        let _ = writeln!(s, "  {:<10} {}", e.name, e.summary);
        for (k, doc) in e.keys {
            let _ = writeln!(s, "      {k:<12} {doc}");
        }
    }
    let _ = writeln!(s, "\nNOISE (--noise)");
    for (name, doc) in posterior::noise::NOISE_KINDS {
        let _ = writeln!(s, "  {name:<18} {doc}");
    }
    let _ = writeln!(s, "\nMETHODS (--method)");
    for m in posterior::methods::methods() {
        let _ = writeln!(s, "  {:<10} {}", m.name, m.summary);
        for (k, doc) in m.keys {
            let _ = writeln!(s, "      {k:<12} {doc}");
        }
    }
    let _ = writeln!(
        s,
        "\nDENOISERS (denoiser=NAME;key=value;... inside pnp-*, dpir, red; or as a method on denoise data)"
    );
    for d in posterior::denoise::denoisers() {
        let _ = writeln!(s, "  {:<10} {}", d.name, d.summary);
        for (k, doc) in d.keys {
            let _ = writeln!(s, "      {k:<12} {doc}");
        }
    }
    let _ = write!(
        s,
        "\nEXAMPLES\n  posterior simulate --operator blur:kernel=gaussian,size=9,std=1.6 --noise gaussian:sigma=0.01 --input camera.png --output y.npy\n  posterior reconstruct --operator blur:kernel=gaussian,size=9,std=1.6 --measurements y.npy --method mle:iters=30 --output x.png\n  posterior bench --operator ct:angles=60 --noise gaussian:sigma=0.01 --method fbp:filter=hann --input shepp_logan --json\n"
    );
    s
}
