#!/usr/bin/env bash
# The PnP/RED defaults on all seven operators (issue 5): one `posterior bench` run per
# (operator, method) on one bundled image, seed 0; prints `operator | sigma | method | PSNR seconds`.
#
#   scripts/pnp_all_operators.sh            # camera, methods tv pnp-admm dpir red
#   IMAGE=astronaut METHODS="tv pnp-drs" POSTERIOR=target/debug/posterior scripts/pnp_all_operators.sh
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="${POSTERIOR:-target/release/posterior}"
if [[ -z "${POSTERIOR:-}" ]]; then
    cargo build --release -p posterior-cli >&2 || exit 1
fi
IMAGE="${IMAGE:-camera}"
METHODS="${METHODS:-tv pnp-admm dpir red}"
# operator|noise sigma (CT's sigma is on the sinogram scale)
CASES="denoise|0.05 blur:kernel=gaussian,size=9,std=1.6|0.01 sr:factor=2|0.01 inpaint:keep=0.3|0.01
cs:ratio=0.3,kind=fast|0.01 mri:accel=4|0.01 ct:angles=60|0.5"
for case in $CASES; do
    op="${case%|*}"
    s="${case#*|}"
    for m in $METHODS; do
        r="$("$bin" bench --operator "$op" --noise "gaussian:sigma=$s" --method "$m" --input "$IMAGE" --json 2>&1)"
        summary="$(echo "$r" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(round(d["psnr"], 2), round(d["seconds"], 1))' 2>/dev/null || echo "FAILED: $(echo "$r" | tail -1)")"
        echo "$op | $s | $m | $summary"
    done
done
