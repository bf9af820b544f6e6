#!/usr/bin/env python3
"""Side-by-side of posterior's classical denoisers (nlm, tv, wavelet, and optionally wnnm /
bm3d) with scikit-image's denoise_nl_means (fast mode), denoise_tv_chambolle and
denoise_wavelet (BayesShrink), on the same noisy .npy inputs.

Setup: the peers venv (scripts/peers/setup_venv.sh), then
    cargo build --release -p posterior --example denoise_npy
Run from the repository root:
    .peers-venv/bin/python scripts/peers/nlm_reference.py \
        --ours target/release/examples/denoise_npy [--images camera,astronaut]
        [--sigmas 15,25,50] [--seed 0] [--specs nlm,tv,wavelet] [--out DIR]

Inputs: each bundled 256x256 gray PNG in data/ read as float32 = uint8 / 255 (what
posterior::data::bundled does), noisy = clean + sigma * n with n from
numpy.random.default_rng(seed) standard normals (float64, cast to float32 after adding),
saved as OUT/NAME_sSIGMA.npy; both sides read that file. PSNR against the clean image with
data range 1 on the raw (unclipped) outputs.

scikit-image settings:
  nlm     denoise_nl_means(noisy, patch_size=5, patch_distance=6, h=0.6*sigma,
          sigma=sigma, fast_mode=True)  (the skimage gallery's settings, sigma known)
  tv      denoise_tv_chambolle(noisy, weight=W) with W = 0.75*sigma (posterior's default
          lambda = 0.75 sigma; skimage's weight plays the role of lambda)
  wavelet denoise_wavelet(noisy, sigma=sigma, wavelet='db4', mode='soft',
          method='BayesShrink', rescale_sigma=False, wavelet_levels=L) with L posterior's
          default depth, max(floor(log2(min(H, W) / 7)) - 1, 1) (4 at 256x256; skimage's own
          rule is 2 fewer), so both run the same transform
Time: median of --repeats runs in this process (skimage) and the median reported by the
example binary (its own loop, excluding process start and file I/O). One JSON line per
(image, sigma, method).
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


def timed(fn, repeats):
    times, est = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        est = fn()
        times.append(time.perf_counter() - t)
    return est, float(np.median(times))


def default_wavelet_levels(shape, taps=8):
    """posterior's default depth of the `wavelet` denoiser for db4 (8 taps)."""
    return max(int(np.floor(np.log2(min(shape) / (taps - 1)))) - 1, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", help="path to the denoise_npy example binary")
    ap.add_argument("--images", default="camera,astronaut")
    ap.add_argument("--sigmas", default="15,25,50")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--specs", default="nlm,tv,wavelet")
    ap.add_argument("--skip-skimage", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from skimage.restoration import (denoise_nl_means, denoise_tv_chambolle,
                                     denoise_wavelet)

    peers = {
        "nlm": ("skimage-nl_means-fast", lambda y, s: denoise_nl_means(
            y, patch_size=5, patch_distance=6, h=0.6 * s, sigma=s, fast_mode=True)),
        "tv": ("skimage-tv_chambolle", lambda y, s: denoise_tv_chambolle(y, weight=0.75 * s)),
        "wavelet": ("skimage-wavelet-bayes", lambda y, s: denoise_wavelet(
            y, sigma=s, wavelet="db4", mode="soft", method="BayesShrink",
            rescale_sigma=False, wavelet_levels=default_wavelet_levels(y.shape))),
    }
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="nlm_ref_"))
    out.mkdir(parents=True, exist_ok=True)
    specs = a.specs.split(",")
    for name in a.images.split(","):
        clean = load(name)
        for s in (int(v) for v in a.sigmas.split(",")):
            sigma = s / 255.0
            rng = np.random.default_rng(a.seed)
            noisy = (clean.astype(np.float64)
                     + sigma * rng.standard_normal(clean.shape)).astype(np.float32)
            path = out / f"{name}_s{s}.npy"
            np.save(path, noisy)
            base = {"image": name, "sigma255": s, "noisy_psnr": round(psnr(noisy, clean), 3)}
            for spec in specs:
                key = spec.split(":")[0]
                if not a.skip_skimage and key in peers and spec == key:
                    label, fn = peers[key]
                    est, sec = timed(lambda: fn(noisy, sigma), a.repeats)
                    print(json.dumps({**base, "method": label,
                                      "psnr": round(psnr(est, clean), 3),
                                      "seconds": round(sec, 4)}), flush=True)
                if a.ours:
                    res = out / f"{name}_s{s}_{key}.npy"
                    r = subprocess.run([a.ours, spec, str(path), repr(np.float32(sigma).item()),
                                        str(res), str(a.repeats)],
                                       check=True, capture_output=True, text=True)
                    info = json.loads(r.stdout.strip().splitlines()[-1])
                    est = np.load(res)
                    print(json.dumps({**base, "method": f"posterior-{info['describe']}",
                                      "psnr": round(psnr(est, clean), 3),
                                      "seconds": info["seconds"]}), flush=True)


if __name__ == "__main__":
    main()
