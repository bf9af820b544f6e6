#!/usr/bin/env bash
# Run from the repository root after `cargo build --release -p posterior-cli`; prints "operator | method | alpha | PSNR".
# lambda = alpha * sigma^2 sweep on astronaut (the tuning image)
P="${POSTERIOR:-target/release/posterior}"
run() { # op noise sigma method alpha
  lam=$(python3 -c "print($5*$3**2)")
  sep=":"; [[ "$4" == *:* ]] && sep=","
  r=$($P bench --operator "$1" --noise "$2" --method "$4${sep}lambda=$lam" --input astronaut --json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['psnr']:.2f}\")")
  echo "$1 | $4 | alpha=$5 | $r"
}
for a in 3 10 30 100; do
  run denoise gaussian:sigma=0.05 0.05 tv $a
  run blur:kernel=gaussian,size=9,std=1.6 gaussian:sigma=0.01 0.01 tv $a
  run mri:accel=4,center=0.08 gaussian:sigma=0.01 0.01 tv $a
  run ct:angles=60 gaussian:sigma=0.5 0.5 tv:nonneg=true,iters=300 $a
done
for a in 5 15 50; do
  run denoise gaussian:sigma=0.05 0.05 wavelet $a
  run blur:kernel=gaussian,size=9,std=1.6 gaussian:sigma=0.01 0.01 wavelet $a
  run mri:accel=4,center=0.08 gaussian:sigma=0.01 0.01 wavelet $a
done
for a in 10 30 100 300; do
  run blur:kernel=gaussian,size=9,std=1.6 gaussian:sigma=0.01 0.01 tikhonov:reg=gradient $a
  run blur:kernel=gaussian,size=9,std=1.6 gaussian:sigma=0.01 0.01 tikhonov:reg=identity $a
  run blur:kernel=gaussian,size=9,std=1.6 gaussian:sigma=0.01 0.01 tikhonov:reg=laplacian $a
done
