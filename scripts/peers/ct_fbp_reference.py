#!/usr/bin/env python3
"""Side-by-side reference for posterior's `ct` operator and FBP: scikit-image.

Computes scikit-image's `radon` and `iradon(filter_name=...)` on
shared/data/shepp_logan_256.png (read as float in [0, 1]) with 180 angles
(theta = 0, 1, ..., 179 degrees) and prints one JSON line per filter with the PSNR
against the image and the wall time. PSNR is reported both over the whole image and
over the inscribed circle (iradon(circle=True) zeroes everything outside it).

With `--ours DIR` (the directory written by
`CT_EXPORT=DIR cargo test -p posterior --lib ct_fbp::tests::export -- --ignored`),
it also compares posterior's sinogram (angle-major, [180, 256]) with scikit-image's
(detector-major, transposed here) and posterior's FBPs with scikit-image's, and prints
the same PSNR figures for posterior's reconstructions.

Requires: numpy, scikit-image (0.26.0 was used), imageio.
"""

import argparse
import json
import os
import time

import imageio.v3 as iio
import numpy as np
from skimage.transform import iradon, radon

FILTERS = ["ramp", "shepp-logan", "cosine", "hamming", "hann"]


def psnr(x, ref, mask=None):
    d = (x - ref) if mask is None else (x - ref)[mask]
    mse = float(np.mean(d.astype(np.float64) ** 2))
    return 10.0 * np.log10(1.0 / mse)


def rel(a, b, mask=None):
    if mask is not None:
        a, b = a[mask], b[mask]
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    # the bundled copy of the phantom (same pixels as the peers' data folder)
    default_image = os.path.normpath(os.path.join(here, "..", "..", "data", "shepp_logan_256.png"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=default_image)
    ap.add_argument("--angles", type=int, default=180)
    ap.add_argument("--ours", help="directory with posterior's sino.npy and fbp_<filter>.npy")
    args = ap.parse_args()

    raw = iio.imread(args.image)
    img = raw.astype(np.float64) / np.iinfo(raw.dtype).max
    n = img.shape[0]
    theta = np.arange(args.angles) * 180.0 / args.angles
    ii, jj = np.mgrid[:n, :n]
    circle = (ii - n // 2) ** 2 + (jj - n // 2) ** 2 <= (n // 2) ** 2
    # two pixels in from the rim: there scikit-image back-projects from detectors it added
    # by padding the sinogram to the diagonal (filtered tails), posterior takes zero
    inner = (ii - n // 2) ** 2 + (jj - n // 2) ** 2 < (n // 2 - 2) ** 2

    t0 = time.perf_counter()
    sino = radon(img, theta=theta, circle=True)  # (detectors, angles)
    t_radon = time.perf_counter() - t0
    print(json.dumps({"impl": "skimage", "op": "radon", "shape": list(sino.shape),
                      "time_ms": round(t_radon * 1e3, 2)}))

    recs = {}
    for f in FILTERS:
        t0 = time.perf_counter()
        rec = iradon(sino, theta=theta, filter_name=f, circle=True)
        dt = time.perf_counter() - t0
        recs[f] = rec
        print(json.dumps({"impl": "skimage", "op": "iradon", "filter": f,
                          "psnr_db": round(psnr(rec, img), 3),
                          "psnr_circle_db": round(psnr(rec, img, circle), 3),
                          "time_ms": round(dt * 1e3, 2)}))

    if args.ours:
        ours_sino = np.load(os.path.join(args.ours, "sino.npy")).astype(np.float64)
        ours_sino = ours_sino.T  # ours is [angles, detectors]
        print(json.dumps({
            "compare": "sinogram", "shape_ours_T": list(ours_sino.shape),
            "rel_l2_diff": rel(ours_sino, sino),
            "max_abs_diff": float(np.max(np.abs(ours_sino - sino))),
            "max_abs_skimage": float(np.max(np.abs(sino))),
        }))
        for f in FILTERS:
            path = os.path.join(args.ours, f"fbp_{f}.npy")
            if not os.path.exists(path):
                continue
            ours = np.load(path).astype(np.float64)
            print(json.dumps({
                "impl": "posterior", "op": "fbp", "filter": f,
                "psnr_db": round(psnr(ours, img), 3),
                "psnr_circle_db": round(psnr(ours, img, circle), 3),
                "rel_l2_diff_vs_skimage_in_circle": rel(ours, recs[f], circle),
                "max_abs_diff_vs_skimage_in_circle": float(
                    np.max(np.abs(ours - recs[f])[circle])),
                "max_abs_diff_vs_skimage_2px_inside": float(
                    np.max(np.abs(ours - recs[f])[inner])),
            }))


if __name__ == "__main__":
    main()
