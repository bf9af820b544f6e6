#!/usr/bin/env python3
"""Plot the CSGM experiment (per-pixel MSE against the number of measurements) from the CSV
that `cargo run --profile test -p posterior-nn --example csgm_experiment` writes.

usage: csgm_plot.py RESULTS.csv OUT.png [TITLE]
Needs matplotlib (any Python with it, e.g. the peers' virtual environment).
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "lasso-pixel": "Lasso (pixels)",
    "lasso-dct": "Lasso (DCT)",
    "lasso-wavelet": "Lasso (db4 wavelets)",
    "vae": "VAE (CSGM)",
    "gan": "GAN (CSGM)",
    "vae-sparse": "VAE + sparse deviations",
    "gan-sparse": "GAN + sparse deviations",
}
STYLE = {
    "lasso-pixel": ("tab:gray", "o", "--"),
    "lasso-dct": ("tab:brown", "s", "--"),
    "lasso-wavelet": ("tab:olive", "^", "--"),
    "vae": ("tab:blue", "o", "-"),
    "gan": ("tab:red", "s", "-"),
    "vae-sparse": ("tab:cyan", "o", ":"),
    "gan-sparse": ("tab:pink", "s", ":"),
}


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else None
    series = defaultdict(list)
    data = ""
    images = ""
    with open(src) as f:
        for row in csv.DictReader(f):
            data, images = row["data"], row["images"]
            series[row["method"]].append(
                (int(row["m"]), float(row["mse_mean"]), float(row["mse_sem"]))
            )
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for method, pts in series.items():
        pts.sort()
        m = [p[0] for p in pts]
        y = [p[1] for p in pts]
        e = [p[2] for p in pts]
        color, marker, ls = STYLE.get(method, ("black", "x", "-"))
        ax.errorbar(m, y, yerr=e, label=LABELS.get(method, method), color=color,
                    marker=marker, linestyle=ls, markersize=4, capsize=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of measurements m (Gaussian A, noise std 0.1)")
    ax.set_ylabel("per-pixel reconstruction MSE")
    ax.set_title(title or f"Compressed sensing on held-out {data} ({images} images)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
