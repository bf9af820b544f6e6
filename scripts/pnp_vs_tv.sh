#!/usr/bin/env bash
# PnP-BM3D against TV (issue 5): `posterior bench` on the bundled 256x256 gray images, one
# run per (image, operator, method), seed 0; prints Markdown tables of PSNR and seconds.
#
#   scripts/pnp_vs_tv.sh [OUT.jsonl]
#
# Environment (defaults in brackets):
#   POSTERIOR  our binary [target/release/posterior, (re)built with cargo first]
#   IMAGES     [astronaut camera chelsea coffee coins grace_hopper rocket]
#              (astronaut is the image the defaults were tuned on)
#   OPS        operator specs [blur:kernel=gaussian,size=9,std=1.6 sr:factor=2
#              inpaint:keep=0.3]  (inpaint keep=0.3: 70% of the pixels missing)
#   NOISE      [gaussian:sigma=0.01]
#   METHODS    [tv pnp-admm dpir]  (the first is the baseline of the margins)
#   CT=1       also CT: `ct:angles=60`, noise gaussian:sigma=${CT_SIGMA:-0.5} (sinogram
#              scale), on shepp_logan and camera, with CT_METHODS
#              [fbp tv:nonneg=true,iters=300 pnp-admm]
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-$(mktemp "${TMPDIR:-/tmp}/pnp_vs_tv.XXXXXX.jsonl")}"
bin="${POSTERIOR:-target/release/posterior}"
IMAGES="${IMAGES:-astronaut camera chelsea coffee coins grace_hopper rocket}"
OPS="${OPS:-blur:kernel=gaussian,size=9,std=1.6 sr:factor=2 inpaint:keep=0.3}"
NOISE="${NOISE:-gaussian:sigma=0.01}"
METHODS="${METHODS:-tv pnp-admm dpir}"
CT_METHODS="${CT_METHODS:-fbp tv:nonneg=true,iters=300 pnp-admm}"
CT_SIGMA="${CT_SIGMA:-0.5}"

if [[ -n "${POSTERIOR:-}" ]]; then
    [[ -x "$bin" ]] || { echo "error: POSTERIOR=$bin is not an executable" >&2; exit 1; }
else
    echo "cargo build --release -p posterior-cli ..." >&2
    cargo build --release -p posterior-cli >&2 || exit 1
fi
echo "results: $out; machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

run() { # operator noise method image
    local line
    if line="$("$bin" bench --operator "$1" --noise "$2" --method "$3" --input "$4" --json 2>/dev/null)"; then
        echo "$line" >>"$out"
        echo "  $4 $1 $3: $(echo "$line" | cut -c1-220)" >&2
    else
        echo "{\"operator\": \"$1\", \"noise\": \"$2\", \"method\": \"$3\", \"input\": \"$4\", \"error\": true}" >>"$out"
        echo "  $4 $1 $3: FAILED" >&2
    fi
}

for op in $OPS; do
    for img in $IMAGES; do
        for m in $METHODS; do
            run "$op" "$NOISE" "$m" "$img"
        done
    done
done
if [[ "${CT:-0}" == 1 ]]; then
    for img in shepp_logan camera; do
        for m in $CT_METHODS; do
            run "ct:angles=60" "gaussian:sigma=$CT_SIGMA" "$m" "$img"
        done
    done
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$out" "$METHODS" <<'PY'
import json, sys
path, methods = sys.argv[1], sys.argv[2].split()
rows = [json.loads(l) for l in open(path) if l.strip()]
for r in rows:
    r.setdefault("input", "?")
groups = {}
for r in rows:
    groups.setdefault((r["operator"], r["noise"]), []).append(r)
for (op, noise), rs in groups.items():
    ms = list(dict.fromkeys(r["method"] for r in rs))
    base = ms[0]
    print(f"\n`--operator {op} --noise {noise}` (PSNR dB / seconds; margin = method − {base})\n")
    print("| image | " + " | ".join(f"`{m}`" for m in ms) + " | "
          + " | ".join(f"{m} − {base}" for m in ms[1:]) + " |")
    print("|---" * (1 + 2 * len(ms) - 1) + "|")
    imgs = list(dict.fromkeys(r["input"] for r in rs))
    margins = {m: [] for m in ms[1:]}
    for img in imgs:
        cell = {r["method"]: r for r in rs if r["input"] == img}
        def fmt(m):
            r = cell.get(m)
            if r is None:
                return "–"
            if r.get("error"):
                return "failed"
            return f"{r['psnr']:.2f} / {r['seconds']:.1f}"
        ds = []
        for m in ms[1:]:
            a, b = cell.get(m), cell.get(base)
            if a and b and not a.get("error") and not b.get("error"):
                d = a["psnr"] - b["psnr"]
                margins[m].append(d)
                ds.append(f"{d:+.2f}")
            else:
                ds.append("–")
        print(f"| {img} | " + " | ".join(fmt(m) for m in ms) + " | " + " | ".join(ds) + " |")
    if len(imgs) > 1:
        print("| **mean** | " + " | ".join("" for _ in ms) + " | "
              + " | ".join(f"**{sum(v) / len(v):+.2f}** (min {min(v):+.2f})" if v else "–"
                           for v in margins.values()) + " |")
PY
