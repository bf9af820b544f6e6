#!/usr/bin/env bash
# `posterior bench` for every operator with the `adjoint` and `mle` methods, and FBP on the
# 256x256 Shepp-Logan phantom with 180 angles for each filter. Prints one JSON line per run.
# Usage: scripts/bench_foundation.sh [path/to/posterior]
set -euo pipefail
BIN=${1:-target/release/posterior}
run() { "$BIN" bench --operator "$1" --noise "$2" --method "$3" --input "$4" --seed 0 --json; }
for m in adjoint mle:iters=20; do
  run denoise gaussian:sigma=0.1 "$m" camera
  run blur:kernel=gaussian,size=9,std=1.6 gaussian:sigma=0.01 "$m" camera
  run blur:kernel=motion,length=11,angle=30,boundary=reflect gaussian:sigma=0.01 "$m" camera
  run sr:factor=2 gaussian:sigma=0.01 "$m" camera
  run inpaint:keep=0.3,seed=0 gaussian:sigma=0.01 "$m" camera
  run cs:ratio=0.5,kind=fast,seed=0 gaussian:sigma=0.01 "$m" camera
  run mri:accel=4,center=0.08,seed=0 gaussian:sigma=0.01 "$m" mri_brain
  run ct:angles=60 gaussian:sigma=0.5 "$m" shepp_logan
done
for f in ramp shepp-logan cosine hamming hann; do
  run ct:angles=180 none "fbp:filter=$f" shepp_logan
done
