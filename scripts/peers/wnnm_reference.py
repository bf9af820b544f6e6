#!/usr/bin/env python3
"""Cross-check of posterior's WNNM against an independent numpy implementation written from
the paper (S. Gu, L. Zhang, W. Zuo, X. Feng, "Weighted nuclear norm minimization with
application to image denoising", CVPR 2014) and the parameters the authors published (for
20 < sigma <= 40: patch 7, 90 similar patches, 12 iterations, lambda 0.56; c = 2 sqrt 2,
delta = 0.1, search radius 30, reference step floor(p/2 - 1) at every sigma).

Setup: pip install numpy pillow
Run from the repository root (the default 96x96 crop takes the numpy side about ten seconds,
`--crop full` about four minutes on one core):
    python3 scripts/peers/wnnm_reference.py --posterior target/release/posterior \
        [--image camera] [--sigma 25] [--crop 40,60,96 | --crop full] [--seed 5]

`--profile tuned` gives the numpy side posterior's default c and iteration count (the paper's
otherwise, compared with `wnnm:profile=paper`).

Prints the PSNR of the noisy crop, of the numpy WNNM, of `posterior ... --method wnnm[...]`, and of
`--method bm3d` (the default, refined profile) and `bm3d:profile=classic` (Dabov et al. 2007,
the BM3D the WNNM paper compares with) on the same noisy .npy, and the RMS difference between
the two WNNMs.
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "data"


def paper_parameters(sigma255):
    """(patch, group, iters, lambda) of the authors' published settings for noise level
    `sigma255` on the [0, 255] scale."""
    if sigma255 <= 20:
        return 6, 70, 8, 0.54
    if sigma255 <= 40:
        return 7, 90, 12, 0.56
    if sigma255 <= 60:
        return 8, 120, 14, 0.58
    return 9, 140, 14, 0.58


def tuned_parameters(sigma255):
    """(c, iters) of posterior's default `profile=tuned` (chosen on astronaut 256², see
    BENCHMARKS.md); the other parameters are the paper's."""
    if sigma255 <= 20:
        return 1.5, 12
    if sigma255 <= 40:
        return 1.5, 14
    return 1.5, 16


def wnnm(noisy, sigma, c=2 * np.sqrt(2), delta=0.1, radius=30, iters=None):
    """WNNM denoising of a 2-D float64 array with noise deviation `sigma` ([0, 1] scale).

    Vectorized over the reference patches: block matching scans the (2 radius + 1)^2
    offsets once each (box sums of squared differences), and the groups are shrunk with one
    batched SVD per iteration.
    """
    p, m, paper_iters, lam = paper_parameters(sigma * 255)
    iters = paper_iters if iters is None else iters
    h, w = noisy.shape
    step = int(np.floor(p / 2 - 1))
    rows_n, cols_n = h - p + 1, w - p + 1
    # reference grid: every `step`, then every remaining position to the last one
    rgrid = list(range(0, rows_n, step))
    rgrid += list(range(rgrid[-1] + 1, rows_n))
    cgrid = list(range(0, cols_n, step))
    cgrid += list(range(cgrid[-1] + 1, cols_n))
    ref_r, ref_c = (g.ravel() for g in np.meshgrid(rgrid, cgrid, indexing="ij"))
    offsets = [(di, dj) for dj in range(-radius, radius + 1) for di in range(-radius, radius + 1)]
    off_r = np.array([o[0] for o in offsets])
    off_c = np.array([o[1] for o in offsets])

    def match(img, m):
        """Flat patch indices (m, references) of each reference's m nearest patches."""
        dist = np.full((len(offsets), len(ref_r)), np.inf)
        for k, (di, dj) in enumerate(offsets):
            sq = np.zeros((h, w))
            r0, r1 = max(0, -di), min(h, h - di)
            c0, c1 = max(0, -dj), min(w, w - dj)
            sq[r0:r1, c0:c1] = (img[r0:r1, c0:c1] - img[r0 + di:r1 + di, c0 + dj:c1 + dj]) ** 2
            cs = np.zeros((h + 1, w + 1))
            cs[1:, 1:] = sq.cumsum(0).cumsum(1)
            box = cs[p:, p:] - cs[:-p, p:] - cs[p:, :-p] + cs[:-p, :-p]
            rr, cc = ref_r + di, ref_c + dj
            ok = (rr >= 0) & (rr < rows_n) & (cc >= 0) & (cc < cols_n)
            dist[k, ok] = box[ref_r[ok], ref_c[ok]]
        best = np.argsort(dist, axis=0, kind="stable")[:m]
        return (ref_r[None] + off_r[best]) * cols_n + ref_c[None] + off_c[best]

    est = noisy.copy()
    groups = None
    for it in range(iters):
        est = est + delta * (noisy - est)
        pats = sliding_window_view(est, (p, p)).reshape(-1, p * p)
        npats = sliding_window_view(noisy, (p, p)).reshape(-1, p * p)
        # noise left in the current estimate, per patch
        sig = lam * np.sqrt(np.abs(sigma ** 2 - ((npats - pats) ** 2).mean(axis=1)))
        if it % 2 == 0:
            m -= 10
            groups = match(est, m)
            if it == 0:
                sig[:] = sigma
        y = np.transpose(pats[groups.T], (0, 2, 1))  # (references, p*p, m)
        mean = y.mean(axis=2, keepdims=True)
        u, s, vt = np.linalg.svd(y - mean, full_matrices=False)
        cc = c * np.sqrt(m) * 2 * sig[ref_r * cols_n + ref_c] ** 2
        disc = s ** 2 - 4 * cc[:, None]
        sx = np.where(disc > 0, np.maximum(s + np.sqrt(np.maximum(disc, 0)), 0) / 2, 0)
        x = np.einsum("ndr,nr,nrm->nmd", u, sx, vt) + np.transpose(mean, (0, 2, 1))
        flat = groups.T.ravel()
        vals = x.reshape(-1, p * p)
        acc = np.stack([np.bincount(flat, weights=vals[:, k], minlength=rows_n * cols_n)
                        for k in range(p * p)], axis=1).reshape(rows_n, cols_n, p * p)
        cnt = np.bincount(flat, minlength=rows_n * cols_n).reshape(rows_n, cols_n)
        num = np.zeros_like(noisy)
        den = np.zeros_like(noisy)
        for a in range(p):
            for b in range(p):
                num[a:a + rows_n, b:b + cols_n] += acc[:, :, a * p + b]
                den[a:a + rows_n, b:b + cols_n] += cnt
        est = num / den
    return est


def psnr(x, ref):
    return float(10 * np.log10(1 / np.mean((x.astype(np.float64) - ref) ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posterior", required=True, help="path to the posterior binary")
    ap.add_argument("--image", default="camera")
    ap.add_argument("--sigma", type=float, default=25.0, help="on the [0, 255] scale")
    ap.add_argument("--crop", default="40,60,96",
                    help="row,col,size, or `full` for the whole 256x256 image")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--profile", choices=["paper", "tuned"], default="paper",
                    help="paper: the published c and iterations against `wnnm:profile=paper`; "
                         "tuned: c and iterations of posterior's default against `wnnm`")
    a = ap.parse_args()
    r0, c0, n = (0, 0, 256) if a.crop == "full" else (int(v) for v in a.crop.split(","))
    clean = np.asarray(Image.open(DATA / f"{a.image}_256.png")).astype(np.float64) / 255
    clean = clean[r0:r0 + n, c0:c0 + n]
    s = a.sigma / 255
    rng = np.random.default_rng(a.seed)
    noisy = (clean + s * rng.standard_normal(clean.shape)).astype(np.float32)
    if a.profile == "tuned":
        c, iters = tuned_parameters(a.sigma)
        ref = wnnm(noisy.astype(np.float64), s, c=c, iters=iters)
        wspec = "wnnm"
    else:
        ref = wnnm(noisy.astype(np.float64), s)
        wspec = "wnnm:profile=paper"
    print(f"noisy {psnr(noisy, clean):.3f} dB; numpy WNNM {psnr(ref, clean):.3f} dB")
    with tempfile.TemporaryDirectory() as tmp:
        y = Path(tmp) / "noisy.npy"
        np.save(y, noisy)
        for spec in (wspec, "bm3d", "bm3d:profile=classic"):
            out = Path(tmp) / "out.npy"
            sep = "," if ":" in spec else ":"
            subprocess.run([a.posterior, "reconstruct", "--operator", "denoise",
                            "--measurements", str(y), "--method",
                            f"{spec}{sep}sigma={np.float32(s).item()!r}", "--output", str(out),
                            "--quiet"], check=True, capture_output=True)
            x = np.load(out)
            line = f"posterior {spec} {psnr(x, clean):.3f} dB"
            if spec == wspec:
                line += f"; RMS difference to the numpy WNNM {np.sqrt(np.mean((x - ref) ** 2)):.2e}"
            print(line)


if __name__ == "__main__":
    main()
