#!/usr/bin/env python3
"""Side-by-side of posterior's BM3D with the reference `bm3d` package (Mäkinen, Azzari,
Foi; PyPI `bm3d` 4.0.3, compiled library from the authors).

Setup: pip install numpy scikit-image bm3d==4.0.3
Run from the repository root:
    python3 scripts/peers/bm3d_reference.py [--ours target/release/examples/denoise_npy]
        [--posterior target/release/posterior --spec learned --spec bm3d ...]
        [--images camera,coins] [--sigmas 15,25,50] [--seed 0] [--out DIR]

For each bundled 256x256 gray PNG in data/ (read as float32 = uint8 / 255, what
posterior::io::read_image and posterior::data::bundled do) and each sigma in {15, 25, 50}/255,
the noisy image x + sigma * n, with n from numpy.random.default_rng(seed) standard normals
(float64, cast to float32 after adding), is saved as OUT/NAME_sSIGMA.npy. The package is
run with bm3d.bm3d(noisy, sigma_psd=sigma, profile='np') (its default profile for every
sigma); posterior with --ours runs the example binary (cargo build --release -p posterior
--example denoise_npy) on the same file with profile=refined (the default). PSNR is computed against the clean
image with data range 1, on the raw (unclipped) outputs. Time: median of 3 runs (the
posterior binary reports its own median of 3, excluding process start and file I/O).
With --posterior, each --spec (any denoiser spec, e.g. `learned`, `bm3d:profile=high`) is
run through the command line, `posterior reconstruct --operator denoise --method SPEC,sigma=...
--json`, on the same file; its time is the median over the repeats of the reported solve
seconds (excluding process start, weight loading and file I/O).
One JSON line per (image, sigma, method).
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "data"


def load(name):
    img = np.asarray(Image.open(DATA / f"{name}_256.png"))
    assert img.dtype == np.uint8 and img.ndim == 2, (name, img.dtype, img.shape)
    return img.astype(np.float32) / np.float32(255)


def psnr(x, ref):
    mse = np.mean((x.astype(np.float64) - ref.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(1.0 / mse))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", help="path to the denoise_npy example binary")
    ap.add_argument("--images", default=",".join(
        p.name[:-8] for p in sorted(DATA.glob("*_256.png"))))
    ap.add_argument("--sigmas", default="15,25,50")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-package", action="store_true")
    ap.add_argument("--posterior", help="path to the posterior binary (for --spec)")
    ap.add_argument("--spec", action="append", default=[],
                    help="denoiser spec run through `posterior reconstruct` (repeatable)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if not a.skip_package:
        import bm3d  # only the package's own runs need it

    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bm3d_ref_"))
    out.mkdir(parents=True, exist_ok=True)
    for name in a.images.split(","):
        clean = load(name)
        for s in (int(v) for v in a.sigmas.split(",")):
            sigma = s / 255.0
            rng = np.random.default_rng(a.seed)
            noisy = (clean.astype(np.float64) + sigma * rng.standard_normal(clean.shape)).astype(np.float32)
            path = out / f"{name}_s{s}.npy"
            np.save(path, noisy)
            base = {"image": name, "sigma255": s, "noisy_psnr": round(psnr(noisy, clean), 3)}
            if not a.skip_package:
                times = []
                for _ in range(a.repeats):
                    t = time.perf_counter()
                    est = bm3d.bm3d(noisy.astype(np.float64), sigma_psd=sigma, profile="np")
                    times.append(time.perf_counter() - t)
                print(json.dumps({**base, "method": "bm3d-4.0.3",
                                  "psnr": round(psnr(est, clean), 3),
                                  "seconds": round(float(np.median(times)), 3)}), flush=True)
            if a.ours:
                res = out / f"{name}_s{s}_ours.npy"
                r = subprocess.run([a.ours, "bm3d", str(path),
                                    repr(np.float32(sigma).item()), str(res), str(a.repeats)],
                                   check=True, capture_output=True, text=True)
                info = json.loads(r.stdout.strip().splitlines()[-1])
                est = np.load(res)
                print(json.dumps({**base, "method": "posterior",
                                  "psnr": round(psnr(est, clean), 3),
                                  "seconds": info["seconds"]}), flush=True)
            for spec in a.spec if a.posterior else []:
                res = out / f"{name}_s{s}_cli.npy"
                method = spec + ("," if ":" in spec else ":") + f"sigma={np.float32(sigma).item()!r}"
                secs = []
                for _ in range(a.repeats):
                    r = subprocess.run([a.posterior, "reconstruct", "--operator", "denoise",
                                        "--measurements", str(path), "--method", method,
                                        "--output", str(res), "--json", "--quiet"],
                                       check=True, capture_output=True, text=True)
                    secs.append(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])
                est = np.load(res)
                print(json.dumps({**base, "method": f"posterior {spec}",
                                  "psnr": round(psnr(est, clean), 3),
                                  "seconds": round(float(np.median(secs)), 3)}), flush=True)


if __name__ == "__main__":
    main()
