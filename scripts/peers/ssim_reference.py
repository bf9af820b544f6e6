#!/usr/bin/env python3
"""Reference SSIM / PSNR values from scikit-image for posterior's metrics tests.

Setup: pip install numpy scikit-image==0.26.0   (Pillow comes with scikit-image)
Run from the repository root: python3 scripts/peers/ssim_reference.py

Every pair is built deterministically from the bundled PNGs in data/, with operations
that the Rust test (crates/posterior/src/metrics.rs, `matches_scikit_image`) repeats
bit for bit:

* images are read as float32 = uint8 / float32(255) (what posterior::io::read_image does);
* "pattern": x + 0.1 sin(i/3) cos(j/5) computed in float64, clipped to [0, 1], cast to
  float32;
* "blur": circular 3x3 box blur, the nine shifted copies summed in float64 in the order
  di = -1, 0, 1 (outer), dj = -1, 0, 1 (inner), divided by 9, cast to float32.

Both members of a pair are then converted to float64 before calling scikit-image, so
the metric itself is evaluated in double precision, as the Rust code does.

SSIM settings reported:
* gaussian: structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1)  (Wang et al. 2004)
* uniform7: structural_similarity(data_range=1)  (skimage default: 7x7 uniform window,
  sample covariance; what the Python peers' tables report)
"""

from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

DATA = Path(__file__).resolve().parents[2] / "data"


def load(name):
    img = np.asarray(Image.open(DATA / f"{name}_256.png"))
    assert img.dtype == np.uint8 and img.ndim == 2, (name, img.dtype, img.shape)
    return img.astype(np.float32) / np.float32(255)


def pattern(x):
    h, w = x.shape
    i = np.arange(h, dtype=np.float64)[:, None]
    j = np.arange(w, dtype=np.float64)[None, :]
    d = x.astype(np.float64) + 0.1 * np.sin(i / 3.0) * np.cos(j / 5.0)
    return np.clip(d, 0.0, 1.0).astype(np.float32)


def blur(x):
    x64 = x.astype(np.float64)
    acc = np.zeros_like(x64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            acc = acc + np.roll(x64, (di, dj), axis=(0, 1))
    return (acc / 9.0).astype(np.float32)


def pairs():
    cam = load("camera")
    coins = load("coins")
    yield "camera_pattern", cam, pattern(cam)
    yield "camera_blur", cam, blur(cam)
    crop = coins[20:120, 10:230]
    yield "coins_crop_pattern", crop, pattern(crop)
    rgb = np.stack([load("astronaut"), coins, load("chelsea")])
    yield "stack3_blur", rgb, np.stack([blur(c) for c in rgb])


def main():
    for name, ref, x in pairs():
        r64, x64 = ref.astype(np.float64), x.astype(np.float64)
        kw = {"channel_axis": 0} if ref.ndim == 3 else {}
        g = structural_similarity(r64, x64, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, **kw)
        u = structural_similarity(r64, x64, data_range=1.0, **kw)
        p = peak_signal_noise_ratio(r64, x64, data_range=1.0)
        print(f"{name}: gaussian={float(g)!r} uniform7={float(u)!r} psnr={float(p)!r}")


if __name__ == "__main__":
    main()
