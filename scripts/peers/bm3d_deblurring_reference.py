#!/usr/bin/env python3
"""The reference `bm3d` package's own deblurring (PyPI `bm3d` 4.0.3, `bm3d.bm3d_deblurring`:
a regularized inverse filtered by BM3D for its coloured noise, then a regularized Wiener
inverse filtered by BM3D's Wiener stage; Dabov, Foi, Katkovnik & Egiazarian, "Image
restoration by sparse 3D transform-domain collaborative filtering", SPIE 6812, 2008) side by
side with posterior's methods, on exactly the inputs `posterior bench` uses.

Setup: scripts/peers/setup_venv.sh (or pip install numpy bm3d==4.0.3)
Run from the repository root:
    python3 scripts/peers/bm3d_deblurring_reference.py [--posterior target/release/posterior]
        [--images astronaut,camera,...] [--methods "tv pnp-admm"] [--sigma 0.01] [--seed 0]

For each bundled image the ground truth x and the measurements y (Gaussian blur 9x9,
std 1.6, circular boundary; Gaussian noise of standard deviation --sigma, seed --seed) come
from `posterior simulate`, so they are the arrays `posterior bench --operator
blur:kernel=gaussian,size=9,std=1.6 --noise gaussian:sigma=SIGMA --seed SEED` scores. The
script checks that its own circular convolution with the package's PSF convention reproduces
posterior's noiseless A x (RMS below 1e-5) before it runs anything. PSNR: the estimate clipped
to [0, 1], data range 1 (bench's convention); time: the package call alone.

Two details of the package under the pinned numpy (2.x):
- its coloured-noise parameter estimation calls `numpy.trapz`, removed in numpy 2.0; the
  script aliases it to `numpy.trapezoid` (the same function under its new name);
- `bm3d_deblurring` fails on a 2-D image (its second stage refuses the first stage's estimate
  as not "equal size to z"), so the image is passed as [H, W, 1].

Prints one JSON line per (image, method) and a Markdown table with the margins over the
first of --methods.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid
import bm3d  # noqa: E402  (after the numpy alias)

IMAGES = "astronaut,camera,chelsea,coffee,coins,grace_hopper,rocket"
OPERATOR = "blur:kernel=gaussian,size=9,std=1.6"


def gaussian_psf(size=9, std=1.6):
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * std**2))
    k = np.outer(g, g)
    return k / k.sum()


def circular_blur(x, psf):
    """The package's convention: the PSF zero-padded to the image and centred at (0, 0)."""
    big = np.zeros_like(x)
    big[: psf.shape[0], : psf.shape[1]] = psf
    big = np.roll(big, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)), axis=(0, 1))
    return np.real(np.fft.ifft2(np.fft.fft2(x) * np.fft.fft2(big)))


def psnr(est, ref):
    mse = np.mean((np.clip(est, 0.0, 1.0) - ref) ** 2)
    return float(10 * np.log10(1.0 / mse))


def simulate(posterior, image, operator, noise, seed, path):
    """`posterior simulate` of IMAGE; `denoise` with no noise gives the ground truth as
    posterior reads it."""
    subprocess.run(
        [posterior, "simulate", "--operator", operator, "--noise", noise, "--seed", str(seed),
         "--input", image, "--output", str(path)],
        check=True, capture_output=True,
    )
    return np.load(path).astype(np.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--posterior", default="target/release/posterior")
    ap.add_argument("--images", default=IMAGES)
    ap.add_argument("--methods", default="tv pnp-admm",
                    help="posterior methods run by `posterior bench` on the same inputs")
    ap.add_argument("--sigma", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    psf = gaussian_psf()
    noise = f"gaussian:sigma={a.sigma}"
    methods = a.methods.split()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for image in a.images.split(","):
            x = simulate(a.posterior, image, "denoise", "none", a.seed, tmp / "x.npy")
            ax = simulate(a.posterior, image, OPERATOR, "none", a.seed, tmp / "ax.npy")
            y = simulate(a.posterior, image, OPERATOR, noise, a.seed, tmp / "y.npy")
            rms = float(np.sqrt(np.mean((circular_blur(x, psf) - ax) ** 2)))
            if rms > 1e-5:
                sys.exit(f"error: the PSF convention does not reproduce posterior's A x on "
                         f"{image} (RMS {rms:.2e})")
            t0 = time.perf_counter()
            est = np.squeeze(bm3d.bm3d_deblurring(y[:, :, None], a.sigma, psf))
            seconds = time.perf_counter() - t0
            rec = {"image": image, "method": "bm3d_deblurring (package)",
                   "psnr": psnr(est, x), "seconds": seconds}
            print(json.dumps(rec), flush=True)
            rows.setdefault(image, {})[rec["method"]] = rec
            for m in methods:
                out = subprocess.run(
                    [a.posterior, "bench", "--operator", OPERATOR, "--noise", noise, "--seed",
                     str(a.seed), "--method", m, "--input", image, "--json"],
                    check=True, capture_output=True, text=True,
                )
                r = json.loads(out.stdout)
                rec = {"image": image, "method": m, "psnr": r["psnr"], "seconds": r["seconds"]}
                print(json.dumps(rec), flush=True)
                rows[image][m] = rec
    names = methods[:1] + ["bm3d_deblurring (package)"] + methods[1:]
    base = names[0]
    print(f"\n`--operator {OPERATOR} --noise {noise} --seed {a.seed}` (PSNR dB / seconds)\n")
    print("| image | " + " | ".join(f"`{n}`" for n in names) + " | "
          + " | ".join(f"{n} − {base}" for n in names[1:]) + " |")
    print("|---" * (2 * len(names)) + "|")
    for image, r in rows.items():
        cells = [f"{r[n]['psnr']:.2f} / {r[n]['seconds']:.1f}" for n in names]
        margins = [f"{r[n]['psnr'] - r[base]['psnr']:+.2f}" for n in names[1:]]
        print(f"| {image} | " + " | ".join(cells + margins) + " |")
    means = [np.mean([r[n]["psnr"] - r[base]["psnr"] for r in rows.values()]) for n in names[1:]]
    print("| **mean margin** | " + " | " * (len(names) - 1) + " | "
          + " | ".join(f"**{m:+.2f}**" for m in means) + " |")


if __name__ == "__main__":
    main()
