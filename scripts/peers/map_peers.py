#!/usr/bin/env python3
"""MAP (variational) reconstructions by the Python peers, on inputs saved for posterior.

    python3 scripts/peers/map_peers.py OUTDIR [--tasks T2,T3,T4] [--repeats 3]

Run it with the peers' virtual environment (scripts/peers/setup_venv.sh). It

1. writes, for every task, the inputs our side needs into OUTDIR/<task>/ as .npy:
   ``x.npy`` (float32 ground truth), ``y.npy`` (the noisy measurements, float32 for T2/T3,
   complex64 for T4), ``Ax.npy`` (the noise-free measurements A x, to check our operator
   against the Python one) and, for T4, ``mask.npy`` (float32 0/1, centred layout,
   [256, 256]); plus OUTDIR/tasks.json with the posterior operator spec of every task;
2. runs the peer solvers on exactly those inputs (the float32 values, widened to
   float64/complex128 for the peers) and prints one JSON line per (task, method):
   ``psnr``, ``ssim``, ``seconds``, ``iterations``, ``objective`` (the value of the
   objective below at the returned estimate, float64), the parameters and the library.

Settings are those of the project's steering measurements (peers.md / peers.py: same λ,
ρ, steps, iteration counts, seeds). λ were tuned there on separate data (T2 on
astronaut_256.png; T3/T4 on other noise seeds), not on these images.

Metrics: the estimate is clipped to [0, 1] (for T4 its magnitude |x| is taken first);
PSNR with data_range=1; SSIM = skimage.metrics.structural_similarity(ref, est,
data_range=1) (7x7 uniform window, sample covariance), which posterior computes as
``posterior::metrics::ssim_uniform7``. Timing: only the solve call (``solver.solve()`` /
``app.run()``); construction, JIT compilation, the radon matrix, its norm and sigpy's power
iteration for the step size are set-up and not timed. Seconds = median of ``--repeats``
runs (the first scico run of each problem compiles outside the timer).

Conventions (checked against posterior's operators; compare_map.sh re-checks A x):

T2 deblurring, posterior ``blur:kernel=gaussian,size=9,std=1.6,boundary=circular``.
  x = data/camera_256.png / 255 (256x256 gray in [0, 1]). Kernel
  k[a, b] = g[a] g[b] / sum, g[i] = exp(-(i-4)^2 / (2 * 1.6^2)), i = 0..8, origin at the
  centre tap (4, 4): y[i, j] = sum_{a,b} k[a, b] x[(i-a+4) mod 256, (j-b+4) mod 256]
  (posterior ops/blur.rs: origin (kh/2, kw/2), true convolution; kernels.rs: centre
  (size-1)/2). Python: the PSF zero-padded to 256x256 and rolled by (-4, -4), y = ifft2(H
  fft2(x)); the kernel is symmetric, so convolution and correlation coincide.
  y = k*x + 0.01 N(0, 1) (numpy default_rng(0)).
  SCICO objective: 1/2 ||k*x - y||_2^2 + λ sum_ij sqrt((D_r x)_ij^2 + (D_c x)_ij^2)
  (scico SquaredL2Loss has scale 1/2; isotropic TV = L21Norm of FiniteDifference with
  circular=True, i.e. periodic forward differences x[i+1] - x[i] with wrap-around).
  λ = 5e-4, ADMM with ρ = 20 λ = 0.01, 200 iterations, x0 = y, exact FFT x-update
  (CircularConvolveSolver); the z-update is the exact prox of the L21 norm.

T3 CT, posterior ``ct:angles=60``.
  x = data/shepp_logan_256.png / 255. Sinogram s = skimage.transform.radon(x,
  theta=linspace(0, 180, 60, endpoint=False), circle=True), shape [detectors, angles] in
  skimage; posterior's layout is [angles, detectors], so y.npy holds the transpose.
  Noise: n = 0.01 ||s|| e / ||e||, e ~ N(0, 1) (default_rng(0)), so ||n|| = 1 % of ||s||.
  SCICO objective: 1/2 ||A x - s||_2^2 + λ TV_iso(x) subject to x >= 0, λ = 3, where
  A is skimage's radon as a sparse matrix (bilinear rotation + column sums; equal to
  skimage.radon to ~1e-15) and TV uses FiniteDifference(append=0): forward differences
  with the last difference along each axis set to 0 (Neumann / replicate boundary, NOT
  periodic). PDHG on C = [A/||A||; D] (the data term is rescaled by ||A||^2 and λ by
  1/||A||^2, the same minimiser), τ = 0.99*30/3, σ = 0.99/(30*3) (τ σ ||C||^2 < 1 with
  ||C|| <= 3), x0 = 0, 300 iterations. The objective printed is the unscaled one above.

T4 MRI, posterior ``mri:mask=OUTDIR/T4/mask.npy,complex=true``.
  x = data/mri_brain_256.png / 255. k = F x with F the centred orthonormal 2-D FFT
  (sigpy.fft(center=True, norm="ortho") = fftshift(fft2(ifftshift(x)))/256, as
  posterior's mri), origin at (128, 128). Mask: 64 of 256 rows along axis 0 (4x): the 16
  central rows 120..135 (8 % of 256 is 20.5 rows; the steering task uses 16) plus 48
  random rows (default_rng(0)); y = mask (k + 0.01 (N + i N)) (default_rng(100)), the full
  256x256 grid with zeros off the mask. Single coil, sensitivity 1. sigpy's unknown is a
  COMPLEX image (y is complex), hence ``complex=true`` on our side for the same objective
  (magnitudes are scored).
  sigpy L1WaveletRecon objective: 1/2 ||M F x - y||_2^2 + λ ||W x||_1, λ = 1e-3, where
  W = sigpy.linop.Wavelet: pywt.wavedecn(x, 'db4', mode='zero', level=None) -> 5 levels
  (pywt.dwt_max_level(256, 8)), all bands including the coarse approximation are
  penalised, |.| is the complex modulus. mode='zero' makes W a 288x288 redundant tight
  frame (W^H W = I, W W^H != I), not the orthonormal periodized db4 of posterior's
  ``wavelet`` transform, so the two regularisers differ slightly at the same λ.
  Solver: FISTA (GradientMethod, accelerate=True), step 1/L with L = max eig of A^H A from
  30 power iterations (L = 1 here), prox = W^H soft(W x) (exact only for a unitary W),
  x0 = 0, 100 iterations.
  sigpy TotalVariationRecon objective: 1/2 ||M F x - y||_2^2 + λ ||G x||_1, λ = 0.03,
  G = FiniteDifference = [x - roll(x, 1, axis 0); x - roll(x, 1, axis 1)] (PERIODIC
  backward differences), and ||.||_1 is the sum of complex moduli of every entry: the
  ANISOTROPIC TV (|d_r| + |d_c|, not sqrt(d_r^2 + d_c^2)). Solver: PDHG (Chambolle-Pock)
  on [A; G], σ = 1, τ = 1 / max eig([A; G]^H [A; G]) (30 power iterations, ~1 + 8 = 9),
  no acceleration, x0 = 0, u0 = 0, 100 iterations. sigpy's power iteration starts from a
  random vector, so τ (and the final objective, in its 6th digit) varies between runs.
  Note: peers.md timed the sigpy app construction (incl. the power iterations) as well;
  here only app.run() is timed.

Output: one JSON object per line, e.g.
  {"task": "T2", "method": "tv-admm", "library": "scico 0.0.7 (jax 0.8.1, CPU)",
   "psnr": 28.7, "ssim": 0.82, "seconds": 1.9, "iterations": 200, "objective": 12.3, ...}
and a first line {"task": ..., "check": ...} per task that records the input files.
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
THETA = np.linspace(0.0, 180.0, 60, endpoint=False)

PARAMS = {
    "T2": {"lambda": 5e-4, "rho": 1e-2, "iters": 200, "noise_sigma": 0.01, "seed": 0},
    "T3": {"lambda": 3.0, "tau_over_sigma_sqrt": 30.0, "iters": 300, "noise_rel": 0.01,
           "seed": 0},
    "T4": {"l1w_lambda": 1e-3, "tv_lambda": 3e-2, "iters": 100, "noise_sigma": 0.01,
           "mask_seed": 0, "noise_seed": 100, "center_rows": 16, "accel": 4},
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
    """Round to what is written in the .npy file, widened back to double precision."""
    if np.iscomplexobj(a):
        return a.astype(np.complex64).astype(np.complex128)
    return a.astype(np.float32).astype(np.float64)


def metrics(xhat, ref):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    x = np.clip(np.abs(xhat) if np.iscomplexobj(xhat) else xhat, 0.0, 1.0)
    return (float(peak_signal_noise_ratio(ref, x, data_range=1.0)),
            float(structural_similarity(ref, x, data_range=1.0)))


def timed_runs(make_and_run, repeats):
    """make_and_run() builds a fresh solver and returns its solve callable; only the
    solve call is timed. Returns (last estimate, median seconds, all seconds)."""
    ts, out = [], None
    for _ in range(repeats):
        solve = make_and_run()
        t0 = time.perf_counter()
        out = solve()
        ts.append(time.perf_counter() - t0)
    return out, statistics.median(ts), ts


def emit(task, method, library, xhat, ref, secs, runs, iters, objective, params):
    p, s = metrics(xhat, ref)
    rec = {"task": task, "method": method, "library": library, "psnr": round(p, 3),
           "ssim": round(s, 4), "seconds": round(secs, 4),
           "seconds_runs": [round(t, 4) for t in runs], "iterations": iters,
           "objective": float(objective), "params": params}
    print(json.dumps(rec), flush=True)
    return rec


def save(outdir, task, **arrays):
    d = os.path.join(outdir, task)
    os.makedirs(d, exist_ok=True)
    for k, v in arrays.items():
        np.save(os.path.join(d, k + ".npy"), np.ascontiguousarray(v))
    return d


# ----------------------------------------------------------------------------- T2
def gauss_psf(size=9, std=1.6):
    ax = np.arange(size) - size // 2
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * std ** 2))
    return g / g.sum()


def psf_otf(psf, shape):
    """DFT of the PSF zero-padded to `shape` with its centre tap moved to (0, 0)."""
    pad = np.zeros(shape)
    k = psf.shape[0]
    pad[:k, :k] = psf
    pad = np.roll(pad, (-(k // 2), -(k // 2)), axis=(0, 1))
    return np.fft.fft2(pad)


def tv_iso_periodic(x):
    dr = np.roll(x, -1, axis=0) - x
    dc = np.roll(x, -1, axis=1) - x
    return float(np.sum(np.sqrt(dr ** 2 + dc ** 2)))


def tv_iso_neumann(x):
    dr = np.zeros_like(x)
    dc = np.zeros_like(x)
    dr[:-1] = x[1:] - x[:-1]
    dc[:, :-1] = x[:, 1:] - x[:, :-1]
    return float(np.sum(np.sqrt(dr ** 2 + dc ** 2)))


def tv_aniso_periodic(x):
    return float(np.sum(np.abs(x - np.roll(x, 1, axis=0))) + np.sum(np.abs(x - np.roll(x, 1, axis=1))))


def run_t2(outdir, repeats):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from scico import functional, linop, loss
    from scico.optimize.admm import ADMM, CircularConvolveSolver

    P = PARAMS["T2"]
    x = f32(load("camera_256.png"))
    psf = gauss_psf()
    H = psf_otf(psf, x.shape)
    ax = np.real(np.fft.ifft2(H * np.fft.fft2(x)))
    y = f32(ax + P["noise_sigma"] * np.random.default_rng(P["seed"]).standard_normal(x.shape))
    d = save(outdir, "T2", x=x.astype(np.float32), y=y.astype(np.float32), Ax=ax.astype(np.float32))
    print(json.dumps({"task": "T2", "check": "inputs", "dir": d, "shape": list(y.shape),
                      "input_psnr": round(metrics(y, x)[0], 3)}), flush=True)

    lam, rho, iters = P["lambda"], P["rho"], P["iters"]
    yj = jnp.asarray(y)
    C = linop.CircularConvolve(h=jnp.asarray(psf), input_shape=y.shape, input_dtype=jnp.float64,
                               h_center=jnp.array([psf.shape[0] // 2, psf.shape[1] // 2]))
    f = loss.SquaredL2Loss(y=yj, A=C)
    g = lam * functional.L21Norm()
    D = linop.FiniteDifference(input_shape=y.shape, input_dtype=jnp.float64, circular=True)
    make = lambda: ADMM(f=f, g_list=[g], C_list=[D], rho_list=[rho], x0=yj, maxiter=iters,
                        subproblem_solver=CircularConvolveSolver())
    make().solve()  # JIT compilation (set-up)

    def once():
        s = make()
        return lambda: np.asarray(s.solve().block_until_ready())

    r, t, runs = timed_runs(once, repeats)
    obj = 0.5 * np.sum((np.real(np.fft.ifft2(H * np.fft.fft2(r))) - y) ** 2) + lam * tv_iso_periodic(r)
    emit("T2", "tv-admm", f"scico {ver('scico')} (jax {ver('jax')}, CPU)", r, x, t, runs, iters, obj,
         {"lambda": lam, "rho": rho, "tv": "isotropic, periodic", "x0": "y",
          "objective": "1/2|k*x-y|^2 + lambda*TV_iso_periodic(x)"})


# ----------------------------------------------------------------------------- T3
def radon_matrix(n, theta):
    """Sparse matrix equal to skimage.transform.radon(., theta, circle=True) on n x n
    images: per angle, bilinear rotation (skimage.warp, order=1, cval=0) then column sums.
    Rows are ordered like skimage's sinogram (detector, angle) flattened in C order."""
    import scipy.sparse as sps
    c = n // 2
    rr, cc = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    rows, cols, vals = [], [], []
    na = len(theta)
    for i, ang in enumerate(np.deg2rad(theta)):
        ca, sa = np.cos(ang), np.sin(ang)
        xin = ca * cc + sa * rr - c * (ca + sa - 1)
        yin = -sa * cc + ca * rr - c * (ca - sa - 1)
        x0, y0 = np.floor(xin).astype(int), np.floor(yin).astype(int)
        fx, fy = xin - x0, yin - y0
        det = cc * na + i
        for dy, dx, w in [(0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                          (1, 0, fy * (1 - fx)), (1, 1, fy * fx)]:
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < n) & (xx >= 0) & (xx < n) & (w != 0)
            rows.append(det[ok]); cols.append((yy * n + xx)[ok]); vals.append(w[ok])
    A = sps.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(n * na, n * n))
    A.sum_duplicates()
    return A


def run_t3(outdir, repeats):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import scipy.sparse.linalg as spla
    from scico import functional, linop, loss
    from scico.optimize import PDHG
    from skimage.transform import radon

    P = PARAMS["T3"]
    x = f32(load("shepp_logan_256.png"))
    s = radon(x, theta=THETA, circle=True)  # [detectors, angles]
    e = np.random.default_rng(P["seed"]).standard_normal(s.shape)
    sn = f32(s + P["noise_rel"] * np.linalg.norm(s) * e / np.linalg.norm(e))
    d = save(outdir, "T3", x=x.astype(np.float32), y=sn.T.astype(np.float32), Ax=s.T.astype(np.float32))
    A = radon_matrix(x.shape[0], THETA)
    rel = float(np.linalg.norm((A @ x.ravel()).reshape(s.shape) - s) / np.linalg.norm(s))
    print(json.dumps({"task": "T3", "check": "inputs", "dir": d, "shape": list(sn.T.shape),
                      "layout": "[angles, detectors] (skimage's sinogram transposed)",
                      "radon_matrix_rel_err": rel}), flush=True)

    lam, iters, ratio = P["lambda"], P["iters"], P["tau_over_sigma_sqrt"]
    n = x.shape[0]
    na = len(THETA)
    anorm = float(spla.svds(A, k=1, return_singular_vectors=False)[0])
    As = (A / anorm).tocsr()
    AsT = As.T.tocsr()
    fwd = lambda v: jax.pure_callback(lambda a: (As @ np.asarray(a).ravel()).reshape(n, na),
                                      jax.ShapeDtypeStruct((n, na), jnp.float64), v)
    adj = lambda w: jax.pure_callback(lambda b: (AsT @ np.asarray(b).ravel()).reshape(n, n),
                                      jax.ShapeDtypeStruct((n, n), jnp.float64), w)
    Aop = linop.LinearOperator(input_shape=(n, n), output_shape=(n, na), eval_fn=fwd, adj_fn=adj,
                               input_dtype=jnp.float64, output_dtype=jnp.float64, jit=False)
    D = linop.FiniteDifference(input_shape=(n, n), input_dtype=jnp.float64, append=0)
    C = linop.VerticalStack((Aop, D), collapse_output=False)
    g = functional.SeparableFunctional([loss.SquaredL2Loss(y=jnp.asarray(sn / anorm)),
                                        (lam / anorm ** 2) * functional.L21Norm()])
    f = functional.NonNegativeIndicator()
    cn = 3.0  # |A/|A|| = 1, |D| <= sqrt(8)  =>  |C| <= 3
    tau, sigma = 0.99 * ratio / cn, 0.99 / (ratio * cn)
    make = lambda: PDHG(f=f, g=g, C=C, tau=tau, sigma=sigma, x0=jnp.zeros((n, n)), maxiter=iters)
    s0 = make()
    s0.maxiter = 2
    s0.solve()  # compilation (set-up)

    def once():
        sv = make()
        return lambda: np.asarray(sv.solve().block_until_ready())

    r, t, runs = timed_runs(once, repeats)
    obj = 0.5 * np.sum((A @ r.ravel() - sn.ravel()) ** 2) + lam * tv_iso_neumann(r)
    emit("T3", "tv-pdhg", f"scico {ver('scico')} (jax {ver('jax')}, CPU)", r, x, t, runs, iters, obj,
         {"lambda": lam, "tau": tau, "sigma": sigma, "A_norm": anorm, "nonneg": True,
          "tv": "isotropic, Neumann (append=0)", "x0": "0",
          "objective": "1/2|Ax-s|^2 + lambda*TV_iso_neumann(x), x>=0"})


# ----------------------------------------------------------------------------- T4
def t4_rows(n=256, accel=4, center=16, seed=0):
    rng = np.random.default_rng(seed)
    lines = np.zeros(n, bool)
    lines[n // 2 - center // 2: n // 2 + center // 2] = True
    rest = np.flatnonzero(~lines)
    lines[rng.choice(rest, n // accel - center, replace=False)] = True
    return lines


def run_t4(outdir, repeats):
    import sigpy as sp
    import sigpy.mri as mr

    P = PARAMS["T4"]
    x = f32(load("mri_brain_256.png"))
    rows = t4_rows(x.shape[0], P["accel"], P["center_rows"], P["mask_seed"])
    mask = np.repeat(rows[:, None], x.shape[1], axis=1).astype(np.float64)
    k = sp.fft(x.astype(np.complex128), center=True, norm="ortho")
    rng = np.random.default_rng(P["noise_seed"])
    noise = P["noise_sigma"] * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
    y = f32(mask * (k + noise))
    d = save(outdir, "T4", x=x.astype(np.float32), y=y.astype(np.complex64),
             Ax=(mask * k).astype(np.complex64), mask=mask.astype(np.float32))
    zf = sp.ifft(y, center=True, norm="ortho")
    print(json.dumps({"task": "T4", "check": "inputs", "dir": d, "shape": list(y.shape),
                      "sampled_rows": int(rows.sum()), "sampled_fraction": float(mask.mean()),
                      "zero_filled_psnr": round(metrics(zf, x)[0], 3)}), flush=True)

    iters = P["iters"]
    mps = np.ones((1,) + y.shape, complex)
    W = sp.linop.Wavelet(y.shape, wave_name="db4")
    Fm = lambda v: mask * sp.fft(v, center=True, norm="ortho")
    lib = f"sigpy {ver('sigpy')}"

    lam = P["l1w_lambda"]

    def once_l1w():
        app = mr.app.L1WaveletRecon(y[None], mps, lam, weights=mask, max_iter=iters, show_pbar=False)
        return app.run

    r, t, runs = timed_runs(once_l1w, repeats)
    obj = 0.5 * np.sum(np.abs(Fm(r) - y) ** 2) + lam * np.sum(np.abs(W(r)))
    emit("T4", "l1-wavelet", lib, r, x, t, runs, iters, obj,
         {"lambda": lam, "wavelet": "db4", "levels": 5, "wavelet_mode": "zero (pywt)",
          "solver": "FISTA, step 1/L", "complex_image": True,
          "objective": "1/2|MFx-y|^2 + lambda*|W x|_1"})

    lam = P["tv_lambda"]

    def once_tv():
        app = mr.app.TotalVariationRecon(y[None], mps, lam, weights=mask, max_iter=iters,
                                         show_pbar=False)
        return app.run

    r, t, runs = timed_runs(once_tv, repeats)
    obj = 0.5 * np.sum(np.abs(Fm(r) - y) ** 2) + lam * tv_aniso_periodic(r)
    emit("T4", "tv", lib, r, x, t, runs, iters, obj,
         {"lambda": lam, "tv": "anisotropic, periodic", "solver": "PDHG, sigma=1, tau=1/|[A;G]|^2",
          "complex_image": True, "objective": "1/2|MFx-y|^2 + lambda*TV_aniso_periodic(x)"})


RUN = {"T2": run_t2, "T3": run_t3, "T4": run_t4}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--tasks", default="T2,T3,T4")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    tasks = [t for t in a.tasks.split(",") if t]
    for t in tasks:
        if t not in RUN:
            sys.exit(f"unknown task {t}; choose among {', '.join(RUN)}")
    spec = {
        "T2": {"operator": "blur:kernel=gaussian,size=9,std=1.6,boundary=circular"},
        "T3": {"operator": "ct:angles=60"},
        "T4": {"operator": f"mri:mask={os.path.join(a.outdir, 'T4', 'mask.npy')},complex=true"},
    }
    with open(os.path.join(a.outdir, "tasks.json"), "w") as fh:
        json.dump({t: spec[t] for t in tasks}, fh, indent=1)
    for t in tasks:
        RUN[t](a.outdir, a.repeats)


if __name__ == "__main__":
    main()
