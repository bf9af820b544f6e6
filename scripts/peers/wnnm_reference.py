#!/usr/bin/env python3
"""Cross-check of posterior's WNNM against an independent numpy implementation written from
the paper (S. Gu, L. Zhang, W. Zuo, X. Feng, "Weighted nuclear norm minimization with
application to image denoising", CVPR 2014) and the parameters the authors published for
20 < sigma <= 40 (patch 7, 90 similar patches, 12 iterations, lambda 0.56, c = 2 sqrt 2,
delta = 0.1, search radius 30, reference step floor(p/2 - 1)).

Setup: pip install numpy pillow
Run from the repository root (a small crop keeps the numpy side to about a minute):
    python3 scripts/peers/wnnm_reference.py --posterior target/release/posterior \
        [--image camera] [--sigma 25] [--crop 40,60,96] [--seed 5]

Prints the PSNR of the noisy crop, of the numpy WNNM, of `posterior ... --method wnnm` and of
`--method bm3d` on the same noisy .npy, and the RMS difference between the two WNNMs.
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "data"


def wnnm(noisy, sigma, iters=12, patch=7, group=90, lam=0.56, c=2 * np.sqrt(2), delta=0.1,
         radius=30):
    """WNNM denoising of a 2-D float64 array with noise deviation `sigma`."""
    h, w = noisy.shape
    p = patch
    step = int(np.floor(p / 2 - 1))
    rows_n, cols_n = h - p + 1, w - p + 1
    # reference grid: every `step`, then every remaining position to the last one
    rgrid = list(range(0, rows_n, step))
    rgrid += list(range(rgrid[-1] + 1, rows_n))
    cgrid = list(range(0, cols_n, step))
    cgrid += list(range(cgrid[-1] + 1, cols_n))
    est = noisy.copy()
    m = group
    groups = []
    for it in range(iters):
        est = est + delta * (noisy - est)
        pats = sliding_window_view(est, (p, p))
        npats = sliding_window_view(noisy, (p, p))
        # noise left in the current estimate, per patch
        sig = lam * np.sqrt(np.abs(sigma ** 2 - ((npats - pats) ** 2).mean(axis=(2, 3))))
        if it % 2 == 0:
            m -= 10
            groups = []
            for r in rgrid:
                for q in cgrid:
                    top, bottom = max(r - radius, 0), min(r + radius, rows_n - 1)
                    left, right = max(q - radius, 0), min(q + radius, cols_n - 1)
                    cand = pats[top:bottom + 1, left:right + 1].reshape(-1, p * p)
                    dist = ((cand - pats[r, q].reshape(1, -1)) ** 2).sum(axis=1)
                    best = np.argsort(dist, kind="stable")[:m]
                    width = right - left + 1
                    groups.append((r, q, best // width + top, best % width + left))
            if it == 0:
                sig[:] = sigma
        num = np.zeros_like(noisy)
        den = np.zeros_like(noisy)
        for r, q, gi, gj in groups:
            y = pats[gi, gj].reshape(m, -1).T
            mean = y.mean(axis=1, keepdims=True)
            u, s, vt = np.linalg.svd(y - mean, full_matrices=False)
            cc = c * np.sqrt(m) * 2 * sig[r, q] ** 2
            disc = s ** 2 - 4 * cc
            sx = np.where(disc > 0, np.maximum(s + np.sqrt(np.maximum(disc, 0)), 0) / 2, 0)
            x = (u * sx) @ vt + mean
            for t in range(m):
                num[gi[t]:gi[t] + p, gj[t]:gj[t] + p] += x[:, t].reshape(p, p)
                den[gi[t]:gi[t] + p, gj[t]:gj[t] + p] += 1
        est = num / den
    return est


def psnr(x, ref):
    return float(10 * np.log10(1 / np.mean((x.astype(np.float64) - ref) ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posterior", required=True, help="path to the posterior binary")
    ap.add_argument("--image", default="camera")
    ap.add_argument("--sigma", type=float, default=25.0, help="on the [0, 255] scale")
    ap.add_argument("--crop", default="40,60,96", help="row,col,size")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    r0, c0, n = (int(v) for v in a.crop.split(","))
    clean = np.asarray(Image.open(DATA / f"{a.image}_256.png")).astype(np.float64) / 255
    clean = clean[r0:r0 + n, c0:c0 + n]
    s = a.sigma / 255
    rng = np.random.default_rng(a.seed)
    noisy = (clean + s * rng.standard_normal(clean.shape)).astype(np.float32)
    ref = wnnm(noisy.astype(np.float64), s)
    print(f"noisy {psnr(noisy, clean):.3f} dB; numpy WNNM {psnr(ref, clean):.3f} dB")
    with tempfile.TemporaryDirectory() as tmp:
        y = Path(tmp) / "noisy.npy"
        np.save(y, noisy)
        for spec in ("wnnm", "bm3d"):
            out = Path(tmp) / f"{spec}.npy"
            subprocess.run([a.posterior, "reconstruct", "--operator", "denoise",
                            "--measurements", str(y), "--method",
                            f"{spec}:sigma={np.float32(s).item()!r}", "--output", str(out),
                            "--quiet"], check=True, capture_output=True)
            x = np.load(out)
            line = f"posterior {spec} {psnr(x, clean):.3f} dB"
            if spec == "wnnm":
                line += f"; RMS difference to the numpy WNNM {np.sqrt(np.mean((x - ref) ** 2)):.2e}"
            print(line)


if __name__ == "__main__":
    main()
