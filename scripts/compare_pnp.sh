#!/usr/bin/env bash
# Side-by-side Plug-and-Play with BM3D (issue 5): posterior against a Python PnP-ADMM that
# calls the `bm3d` package, on identical inputs, in one run.
#
#   scripts/compare_pnp.sh [WORKDIR]
#
# 1. scripts/peers/pnp_peers.py writes x, y and A x (camera 256x256, σ_n = 0.01) as .npy
#    into WORKDIR/<task>/ for deblur (Gaussian 9x9 std 1.6, circular), sr2 and sr4 (our
#    `sr` operator: bicubic anti-aliasing, circular, decimation), checks its own FFT form
#    of A against the shift-and-add definition, and runs PnP-ADMM + bm3d (the steering
#    setting: σ_d = 0.05, ρ = σ_n²/σ_d², 20 iterations, exact x-update; JSON lines in
#    WORKDIR/peers.jsonl);
# 2. `posterior apply` recomputes A x with our operator on the same x and compares it with
#    the Python one (a check line per task: relative max difference);
# 3. `posterior reconstruct --json` runs our methods on the same y.npy (σ_n is estimated
#    from y, as for any user without a noise model; JSON lines in WORKDIR/ours.jsonl);
# 4. a Markdown table is printed on stdout.
#
# The peer runs first and our methods right after it, so both see the same machine load.
#
# Environment (defaults in brackets):
#   PEERS_PYTHON   Python of the peers' venv [.peers-venv/bin/python, made by
#                  scripts/peers/setup_venv.sh]
#   POSTERIOR      our binary [target/release/posterior, (re)built with cargo first]
#   TASKS          subset of deblur,sr2,sr4 [deblur,sr2,sr4]
#   REPEATS        timing repetitions for both sides; seconds = median [1]
#   PEER_ITERS     [20]    PEER_SIGMA_D [0.05]
#   METHODS        our method specs, separated by spaces
#                  [pnp-admm dpir pnp-admm:sigma=0.05,rho=0.04,iters=20,tol=0 tv]
#                  (the third is the peer's algorithm and setting: fixed σ_d = 0.05,
#                  ρ = 0.01²/0.05², 20 iterations)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/compare_pnp.XXXXXX")}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
py="${PEERS_PYTHON:-.peers-venv/bin/python}"
bin="${POSTERIOR:-target/release/posterior}"
tasks="${TASKS:-deblur,sr2,sr4}"
repeats="${REPEATS:-1}"
METHODS="${METHODS:-pnp-admm dpir pnp-admm:sigma=0.05,rho=0.04,iters=20,tol=0 tv}"

if [[ ! -x "$py" ]]; then
    echo "error: no Python at $py; run scripts/peers/setup_venv.sh or set PEERS_PYTHON" >&2
    exit 1
fi
if [[ -n "${POSTERIOR:-}" ]]; then
    if [[ ! -x "$bin" ]]; then
        echo "error: POSTERIOR=$bin is not an executable" >&2
        exit 1
    fi
else
    echo "cargo build --release -p posterior-cli ..." >&2
    cargo build --release -p posterior-cli >&2 || exit 1
fi
echo "work folder: $work" >&2
load_start="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "machine: $(nproc) CPUs, load average $load_start" >&2

# ---------------------------------------------------------------- 1. peers
echo "running the peer (pnp_peers.py, $repeats repeats) ..." >&2
if ! "$py" scripts/peers/pnp_peers.py "$work" --tasks "$tasks" --repeats "$repeats" \
    --iters "${PEER_ITERS:-20}" --sigma-d "${PEER_SIGMA_D:-0.05}" \
    >"$work/peers.jsonl" 2>"$work/peers.log"; then
    echo "error: pnp_peers.py failed; last lines of $work/peers.log:" >&2
    tail -5 "$work/peers.log" >&2
    exit 1
fi

operator_for() {
    "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["operator"])' \
        "$work/tasks.json" "$1"
}

# ---------------------------------------------------------------- 2. operator checks
: >"$work/checks.jsonl"
for task in ${tasks//,/ }; do
    op="$(operator_for "$task")"
    if "$bin" apply --operator "$op" --input "$work/$task/x.npy" --output "$work/$task/Ax_ours.npy" \
        2>"$work/$task/apply.err"; then
        "$py" - "$task" "$work/$task/Ax.npy" "$work/$task/Ax_ours.npy" "$op" >>"$work/checks.jsonl" <<'PY'
import json, sys
import numpy as np
task, a, b, op = sys.argv[1:]
a, b = np.load(a), np.load(b)
if a.shape != b.shape:
    print(json.dumps({"task": task, "operator": op, "error": f"shape {b.shape} != python {a.shape}"}))
else:
    d = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
    print(json.dumps({"task": task, "operator": op, "max_rel_diff": d, "ok": d < 1e-5}))
PY
    else
        err="$(grep -m1 '^error' "$work/$task/apply.err" || tail -1 "$work/$task/apply.err")"
        "$py" -c 'import json,sys; print(json.dumps({"task": sys.argv[1], "operator": sys.argv[2], "error": sys.argv[3]}))' \
            "$task" "$op" "$err" >>"$work/checks.jsonl"
    fi
done

# ---------------------------------------------------------------- 3. ours
: >"$work/ours.jsonl"
echo "running posterior ($bin, $repeats repeats) ..." >&2
for task in ${tasks//,/ }; do
    op="$(operator_for "$task")"
    n=0
    for method in $METHODS; do
        n=$((n + 1))
        out="$work/$task/ours_$n.npy"
        runs="$work/$task/ours_$n.runs"
        : >"$runs"
        ok=1
        err=""
        for ((i = 0; i < repeats; i++)); do
            if line="$("$bin" reconstruct --operator "$op" --measurements "$work/$task/y.npy" \
                --method "$method" --output "$out" --reference "$work/$task/x.npy" --quiet --json \
                2>"$work/$task/ours_$n.err")"; then
                echo "$line" >>"$runs"
            else
                ok=0
                err="$(grep -m1 '^error' "$work/$task/ours_$n.err" || tail -1 "$work/$task/ours_$n.err")"
                break
            fi
        done
        "$py" - "$task" "$method" "$ok" "$err" "$runs" "$work/$task/ours_$n.err" >>"$work/ours.jsonl" <<'PY'
import json, statistics, sys
task, method, ok, err, runs, log = sys.argv[1:]
rec = {"task": task, "library": "posterior", "spec": method}
if ok != "1":
    rec["error"] = err or "failed without a message"
else:
    rs = [json.loads(l) for l in open(runs) if l.strip()]
    rec.update(rs[-1])
    rec["spec"] = method
    rec["seconds_runs"] = [r["seconds"] for r in rs]
    rec["seconds"] = statistics.median(rec["seconds_runs"])
    msgs = [l.strip() for l in open(log) if l.strip()]
    # the run's summary (method, levels, estimated sigma_n, counts) comes before the
    # "PSNR ... against the reference" and "written to" lines
    rec["summary"] = msgs[0] if msgs else ""
print(json.dumps(rec))
PY
        echo "  ours $task $method: $(tail -1 "$work/ours.jsonl" | cut -c1-200)" >&2
    done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# ---------------------------------------------------------------- 4. table
"$py" - "$work" "$load_start" "$load_end" <<'PY'
import json, os, sys
work, l0, l1 = sys.argv[1:]
read = lambda n: [json.loads(l) for l in open(os.path.join(work, n)) if l.strip().startswith("{")]
lines = read("peers.jsonl")
peers = {r["task"]: r for r in lines if "psnr" in r}
pchecks = {r["task"]: r for r in lines if r.get("check") == "inputs"}
ours = read("ours.jsonl")
checks = read("checks.jsonl")
PNP = ("pnp-admm", "pnp-hqs", "pnp-drs", "pnp-pgd", "dpir", "red")
names = {"deblur": "deblur (Gaussian 9x9 std 1.6, circular)", "sr2": "SR x2 (bicubic)",
         "sr4": "SR x4 (bicubic)"}
f = lambda v, fmt: "–" if v is None else format(v, fmt)
print("| task (camera 256, σ=0.01) | method | library | PSNR (dB) | SSIM | seconds | iterations | ΔPSNR vs peer | time peer/ours |")
print("|---|---|---|---|---|---|---|---|---|")
for task in dict.fromkeys([r["task"] for r in ours] + list(peers)):
    p = peers.get(task)
    if p:
        print(f"| {names.get(task, task)} | PnP-ADMM, σ_d={p['params']['sigma_d']}, "
              f"ρ={p['params']['rho']:.3g}, exact x-update | {p['library']} | {p['psnr']:.2f} | "
              f"{p['ssim']:.4f} | {p['seconds']:.2f} | {p['iterations']} | | |")
    for o in [r for r in ours if r["task"] == task]:
        if "error" in o:
            msg = o["error"].replace("|", "\\|")
            print(f"| | `{o['spec']}` | posterior | **failed**: {msg} | | | | | |")
            continue
        dp = o["psnr"] - p["psnr"] if p and o.get("psnr") is not None else None
        pnp = o["spec"].split(":")[0] in PNP
        ratio = p["seconds"] / o["seconds"] if p and pnp and o["seconds"] > 0 else None
        print(f"| | `{o['spec']}` | posterior | {f(o.get('psnr'), '.2f')} | {f(o.get('ssim'), '.4f')} | "
              f"{o['seconds']:.2f} | {o['iterations']} | {f(dp, '+.2f')} | "
              f"{f(ratio, '.1f')}{'x' if ratio else ''} |")
print()
for c in checks:
    pc = pchecks.get(c["task"], {})
    extra = (f"; Python FFT form vs shift-and-add {pc.get('fft_vs_direct', float('nan')):.1e}, "
             f"x-update residual {pc.get('xupdate_rel_residual', float('nan')):.1e}")
    if "error" in c:
        print(f"* operator check {c['task']} `{c['operator']}`: **failed**: {c['error']}{extra}")
    else:
        print(f"* operator check {c['task']} `{c['operator']}`: max |A x (posterior) - A x (Python)| / max |A x| = "
              f"{c['max_rel_diff']:.2e} ({'ok' if c['ok'] else 'MISMATCH'}){extra}")
for o in ours:
    if o.get("summary") and o["spec"].split(":")[0] in PNP:
        print(f"* {o['task']} `{o['spec']}`: {o['summary']}")
print("* time peer/ours: for our PnP methods only (all call BM3D once per iteration)")
print(f"* load average (1/5/15 min): {l0} at the start, {l1} at the end; seconds: the solve only")
print("* PSNR/SSIM: estimate clipped to [0, 1], data range 1, SSIM with scikit-image's 7x7 uniform window")
print(f"* inputs, estimates and raw JSON lines: {work}")
PY
