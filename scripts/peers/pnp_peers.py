#!/usr/bin/env python3
"""Plug-and-Play ADMM with the `bm3d` package, on inputs saved for posterior (issue 5).

    python3 scripts/peers/pnp_peers.py OUTDIR [--tasks deblur,sr2,sr4] [--repeats 1]
                                       [--iters 20] [--sigma-d 0.05] [--image camera_256.png]

Run it with the peers' virtual environment (scripts/peers/setup_venv.sh). It

1. writes, for every task, the inputs our side needs into OUTDIR/<task>/ as .npy:
   ``x.npy`` (float32 ground truth), ``y.npy`` (float32 noisy measurements) and ``Ax.npy``
   (the noise-free A x, to check our operator against the one below); plus
   OUTDIR/tasks.json with the posterior operator spec of every task;
2. runs PnP-ADMM with the BM3D denoiser of the ``bm3d`` package (Mäkinen, Azzari & Foi)
   on exactly those inputs and prints one JSON line per task: ``psnr``, ``ssim``,
   ``seconds``, ``iterations`` and the parameters; before it, one ``check`` line per task
   with the agreement of the FFT form of A with its direct (shift-and-add) form and the
   relative residual of the exact x-update.

The algorithm is the steering task T2's (../shared/peers/peers.py ``t2_pnp``; tuned there
on astronaut_256.png: σ_d = 0.05, 20 iterations):

    x = argmin 1/(2 σ_n²) ‖A x − y‖² + 1/(2 σ_d²) ‖x − (z − u)‖²
      = (AᵀA + ρ I)⁻¹ (Aᵀ y + ρ (z − u)),   ρ = σ_n² / σ_d²   (exact, see below)
    z = BM3D(x + u, sigma_psd = σ_d)        (bm3d.bm3d, default profile 'np')
    u = u + x − z

with a fixed σ_d, u0 = 0, and z0 = y for deblurring, z0 = the bicubic interpolation of y
(skimage.transform.resize, order 3, periodic) for super-resolution. The estimate is z.

Forward models (float64; the same as posterior's operators, compare_pnp.sh re-checks A x):

deblur, posterior ``blur:kernel=gaussian,size=9,std=1.6,boundary=circular``: 9x9 Gaussian
  PSF (std 1.6, normalised), circular convolution with the centre tap at the origin,
  y = ifft2(H fft2(x)) + σ_n N(0, 1). x-update: exact division in Fourier.

srF, posterior ``sr:factor=F`` (bicubic anti-aliasing, crates/posterior/src/ops/sr.rs):
  y[m, n] = Σ_{s,t} w(s) w(t) x[(F m + s) mod H, (F n + t) mod W] + σ_n N(0, 1) with the
  separable taps w(t) ∝ keys((t − c)/F), c = (F − 1)/2, Keys' cubic with a = −1/2, for the
  integers t with |t − c| < 2F, normalised to sum 1 (MATLAB imresize's antialiasing
  kernel; for F = 2: [−3, −9, 29, 111, 111, 29, −9, −3]/256 at t = −3..4). So A = S K with
  K the circular correlation with w ⊗ w (transfer function
  K̂(k1, k2) = Σ_s w(s) e^{2πi k1 s/H} · Σ_t w(t) e^{2πi k2 t/W}) and S keeps every F-th
  sample starting at 0. x-update: the closed form of Zhao et al., "Fast single image
  super-resolution using a new analytical solution for l2-l2 problems", IEEE TIP 25(8),
  2016: in the DFT domain SᵀS averages the F² aliased copies of the spectrum, so with
  B = fft2(b) and d the F² values of K̂ in an alias class,
  X = (B − conj(d) (Σ d B) / (ρ F² + Σ |d|²)) / ρ.

Noise: σ_n = 0.01, numpy default_rng(0) standard normals on the measurement grid.
Metrics: the estimate clipped to [0, 1], PSNR with data_range 1, SSIM =
skimage.metrics.structural_similarity(ref, est, data_range=1) (7x7 uniform window), as
posterior's ``--json`` output. Timing: the PnP loop only (FFT set-up excluded), median of
``--repeats`` runs.
"""
import argparse
import importlib.metadata as md
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data")
SIGMA_N = 0.01
TASKS = {
    "deblur": "blur:kernel=gaussian,size=9,std=1.6,boundary=circular",
    "sr2": "sr:factor=2",
    "sr4": "sr:factor=4",
}


def ver(pkg):
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "?"


def load(name):
    from PIL import Image
    return np.asarray(Image.open(os.path.join(DATA, name)), dtype=np.float64) / 255.0


def f32(a):
    """Round to what is written in the .npy file, widened back to float64."""
    return a.astype(np.float32).astype(np.float64)


def metrics(xhat, ref):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    x = np.clip(xhat, 0.0, 1.0)
    return (float(peak_signal_noise_ratio(ref, x, data_range=1.0)),
            float(structural_similarity(ref, x, data_range=1.0)))


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


# ----------------------------------------------------------------------------- operators
class Blur:
    """Circular convolution with the 9x9 Gaussian PSF (std 1.6), centre tap at the origin."""

    def __init__(self, shape, size=9, std=1.6):
        ax = np.arange(size) - size // 2
        g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * std ** 2))
        self.psf = g / g.sum()
        pad = np.zeros(shape)
        pad[:size, :size] = self.psf
        self.H = np.fft.fft2(np.roll(pad, (-(size // 2), -(size // 2)), axis=(0, 1)))
        self.shape = shape

    def apply(self, x):
        return np.real(np.fft.ifft2(self.H * np.fft.fft2(x)))

    def adjoint(self, y):
        return np.real(np.fft.ifft2(np.conj(self.H) * np.fft.fft2(y)))

    def apply_direct(self, x):
        """Shift-and-add form: y[i, j] = Σ_ab k[a, b] x[i − a + 4, j − b + 4] (circular)."""
        n = self.psf.shape[0]
        out = np.zeros_like(x)
        for a in range(n):
            for b in range(n):
                out += self.psf[a, b] * np.roll(x, (a - n // 2, b - n // 2), axis=(0, 1))
        return out

    def solve(self, b, rho):
        """(AᵀA + ρ I)⁻¹ b, exact."""
        return np.real(np.fft.ifft2(np.fft.fft2(b) / (np.abs(self.H) ** 2 + rho)))

    def init(self, y):
        return y.copy()


def keys_cubic(x):
    a = -0.5
    x = np.abs(x)
    return np.where(x <= 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def bicubic_taps(f):
    """(t0, w): w[i] multiplies x[f m + t0 + i] in y[m]; normalised to sum 1."""
    c = (f - 1) / 2
    lo, hi = int(np.floor(c - 2 * f)) + 1, int(np.ceil(c + 2 * f)) - 1
    t = np.arange(lo, hi + 1)
    w = keys_cubic((t - c) / f)
    return lo, w / w.sum()


class SuperResolution:
    """y = S K x: circular correlation with the bicubic taps, then f-fold decimation."""

    def __init__(self, shape, f):
        self.f, self.shape = f, shape
        self.t0, self.w = bicubic_taps(f)
        t = self.t0 + np.arange(len(self.w))
        h, w = shape
        kr = (self.w[None, :] * np.exp(2j * np.pi * np.outer(np.arange(h), t) / h)).sum(1)
        kc = (self.w[None, :] * np.exp(2j * np.pi * np.outer(np.arange(w), t) / w)).sum(1)
        self.K = np.outer(kr, kc)

    def apply(self, x):
        return np.real(np.fft.ifft2(self.K * np.fft.fft2(x)))[:: self.f, :: self.f]

    def adjoint(self, y):
        up = np.zeros(self.shape)
        up[:: self.f, :: self.f] = y
        return np.real(np.fft.ifft2(np.conj(self.K) * np.fft.fft2(up)))

    def apply_direct(self, x):
        """y[m, n] = Σ_{s,t} w(s) w(t) x[(f m + s) mod H, (f n + t) mod W], by shifts."""
        rows = sum(wi * np.roll(x, -(self.t0 + i), axis=0) for i, wi in enumerate(self.w))
        both = sum(wi * np.roll(rows, -(self.t0 + i), axis=1) for i, wi in enumerate(self.w))
        return both[:: self.f, :: self.f]

    def solve(self, b, rho):
        """(AᵀA + ρ I)⁻¹ b by Zhao et al.'s closed form (module docstring)."""
        f = self.f
        h, w = self.shape
        hl, wl = h // f, w // f
        B = np.fft.fft2(b).reshape(f, hl, f, wl)  # [j1, k1, j2, k2] = index (k1 + j1 hl, k2 + j2 wl)
        d = self.K.reshape(f, hl, f, wl)
        g = (d * B).sum(axis=(0, 2), keepdims=True) / (
            rho * f * f + (np.abs(d) ** 2).sum(axis=(0, 2), keepdims=True))
        X = (B - np.conj(d) * g) / rho
        return np.real(np.fft.ifft2(X.reshape(h, w)))

    def init(self, y):
        from skimage.transform import resize
        return resize(y, self.shape, order=3, mode="wrap", anti_aliasing=False)


def operator(task, shape):
    if task == "deblur":
        return Blur(shape)
    return SuperResolution(shape, int(task[2:]))


# ----------------------------------------------------------------------------- PnP-ADMM
def pnp_admm(op, y, sigma_n, sigma_d, iters):
    import bm3d
    rho = sigma_n ** 2 / sigma_d ** 2
    aty = op.adjoint(y)
    z, u = op.init(y), np.zeros(op.shape)
    for _ in range(iters):
        x = op.solve(aty + rho * (z - u), rho)
        z = bm3d.bm3d(x + u, sigma_psd=sigma_d)
        u = u + x - z
    return z


def prepare(outdir, task, image, sigma_d):
    """Write x, y, A x for `task`; print the check line; return (x, op, y, folder)."""
    x = f32(load(image))
    op = operator(task, x.shape)
    ax = op.apply(x)
    y = f32(ax + SIGMA_N * np.random.default_rng(0).standard_normal(ax.shape))
    d = os.path.join(outdir, task)
    os.makedirs(d, exist_ok=True)
    for k, v in {"x": x, "y": y, "Ax": ax}.items():
        np.save(os.path.join(d, k + ".npy"), np.ascontiguousarray(v.astype(np.float32)))
    # checks: the FFT form against the shift-and-add definition, the adjoint, the x-update
    rng = np.random.default_rng(1)
    v, r = rng.standard_normal(x.shape), rng.standard_normal(ax.shape)
    rho = SIGMA_N ** 2 / sigma_d ** 2
    xs = op.solve(v, rho)
    res = op.adjoint(op.apply(xs)) + rho * xs - v
    av = np.vdot(op.apply(v), r)
    print(json.dumps({
        "task": task, "check": "inputs", "dir": d, "image": image, "shape": list(y.shape),
        "fft_vs_direct": rel(op.apply(x), op.apply_direct(x)),
        "adjoint_rel": float(abs(av - np.vdot(v, op.adjoint(r))) / abs(av)),
        "xupdate_rel_residual": float(np.linalg.norm(res) / np.linalg.norm(v)),
        "init_psnr": round(metrics(op.init(y), x)[0], 3)}), flush=True)
    return x, op, y, d


def run_task(outdir, task, image, args):
    x, op, y, d = prepare(outdir, task, image, args.sigma_d)
    if args.repeats < 1:
        return
    ts, out = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = pnp_admm(op, y, SIGMA_N, args.sigma_d, args.iters)
        ts.append(time.perf_counter() - t0)
    p, s = metrics(out, x)
    np.save(os.path.join(d, "peer_pnp.npy"), out.astype(np.float32))
    rho = SIGMA_N ** 2 / args.sigma_d ** 2
    print(json.dumps({
        "task": task, "method": "pnp-admm-bm3d",
        "library": f"bm3d {ver('bm3d')} + numpy {ver('numpy')}",
        "psnr": round(p, 3), "ssim": round(s, 4), "seconds": round(statistics.median(ts), 3),
        "seconds_runs": [round(t, 3) for t in ts], "iterations": args.iters,
        "params": {"sigma_d": args.sigma_d, "rho": rho, "sigma_n": SIGMA_N,
                   "x_update": "exact FFT" if task == "deblur" else "exact (Zhao et al. 2016)",
                   "z0": "y" if task == "deblur" else "bicubic(y)", "bm3d_profile": "np"}}),
        flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--tasks", default="deblur,sr2,sr4")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs (0: inputs and checks only)")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--sigma-d", type=float, default=0.05)
    ap.add_argument("--image", default="camera_256.png")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    tasks = [t for t in a.tasks.split(",") if t]
    for t in tasks:
        if t not in TASKS:
            sys.exit(f"unknown task {t}; choose among {', '.join(TASKS)}")
    with open(os.path.join(a.outdir, "tasks.json"), "w") as fh:
        json.dump({t: {"operator": TASKS[t]} for t in tasks}, fh, indent=1)
    for t in tasks:
        run_task(a.outdir, t, a.image, a)


if __name__ == "__main__":
    main()
