#!/usr/bin/env bash
# Side-by-side MAP reconstructions: posterior against the Python peers (SCICO, SigPy) on
# identical inputs, in one run.
#
#   scripts/compare_map.sh [WORKDIR]
#
# 1. scripts/peers/map_peers.py writes the inputs of T2 (TV deblurring), T3 (TV CT) and
#    T4 (L1-wavelet and TV MRI) as .npy into WORKDIR (default: a new temporary folder)
#    and runs the peer solvers (JSON lines in WORKDIR/peers.jsonl);
# 2. `posterior apply` recomputes the noise-free measurements A x with our operators and
#    compares them with the Python ones (a check line per task: relative max difference);
# 3. `posterior reconstruct --json` runs our methods on the same y (JSON lines in
#    WORKDIR/ours.jsonl; a failing run is reported with its error line);
# 4. a Markdown table is printed on stdout: task, method, library, PSNR, SSIM, seconds,
#    iterations, final objective, and the time ratio peer/ours.
#
# The objectives, boundary conditions and solver settings of the peers are documented in
# scripts/peers/map_peers.py; our method specs must state the same objective.
#
# Environment (defaults in brackets):
#   PEERS_PYTHON   Python of the peers' venv [.peers-venv/bin/python, made by
#                  scripts/peers/setup_venv.sh]
#   POSTERIOR      our binary [target/release/posterior, (re)built with cargo first]
#   TASKS          subset of T2,T3,T4 [T2,T3,T4]
#   REPEATS        timing repetitions for both sides; seconds = median [3]
#   T2_METHOD      [tv:lambda=5e-4,solver=admm,iters=200,boundary=periodic,rho=0.01,adapt=false,tol=0]
#   T3_METHOD      [tv:lambda=3,solver=pdhg,iters=300,nonneg=true,boundary=neumann,tol=0,start=backprojection]
#   T4_WAVELET_METHOD [wavelet:lambda=1e-3,wavelet=db4,levels=5,iters=100,tol=0]
#   T4_TV_METHOD   [tv:lambda=0.03,iso=false,iters=100,boundary=periodic,tol=0]
#   T2_OPERATOR, T3_OPERATOR, T4_OPERATOR  override our operator specs (defaults: those in
#                  WORKDIR/tasks.json, e.g. mri:mask=WORKDIR/T4/mask.npy,complex=true)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="${1:-$(mktemp -d "${TMPDIR:-/tmp}/compare_map.XXXXXX")}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
py="${PEERS_PYTHON:-.peers-venv/bin/python}"
bin="${POSTERIOR:-target/release/posterior}"
tasks="${TASKS:-T2,T3,T4}"
repeats="${REPEATS:-3}"
T2_METHOD="${T2_METHOD:-tv:lambda=5e-4,solver=admm,iters=200,boundary=periodic,rho=0.01,adapt=false,tol=0}"
T3_METHOD="${T3_METHOD:-tv:lambda=3,solver=pdhg,iters=300,nonneg=true,boundary=neumann,tol=0,start=backprojection}"
T4_WAVELET_METHOD="${T4_WAVELET_METHOD:-wavelet:lambda=1e-3,wavelet=db4,levels=5,iters=100,tol=0}"
T4_TV_METHOD="${T4_TV_METHOD:-tv:lambda=0.03,iso=false,iters=100,boundary=periodic,tol=0}"

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
    # a no-op when the release binary is up to date with the sources
    echo "cargo build --release -p posterior-cli ..." >&2
    cargo build --release -p posterior-cli >&2 || exit 1
fi
echo "work folder: $work" >&2
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" >&2

# ---------------------------------------------------------------- 1. peers
echo "running the peers (map_peers.py, $repeats repeats) ..." >&2
if ! "$py" scripts/peers/map_peers.py "$work" --tasks "$tasks" --repeats "$repeats" \
    >"$work/peers.jsonl" 2>"$work/peers.log"; then
    echo "error: map_peers.py failed; last lines of $work/peers.log:" >&2
    tail -5 "$work/peers.log" >&2
    exit 1
fi

operator_for() { # task -> our operator spec
    local over="${1}_OPERATOR"
    if [[ -n "${!over:-}" ]]; then
        echo "${!over}"
    else
        "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["operator"])' \
            "$work/tasks.json" "$1"
    fi
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
run_ours() { # task, key (the peer's method name), method spec
    local task="$1" key="$2" method="$3" op out err i line ok=1
    op="$(operator_for "$task")"
    out="$work/$task/ours_${key}.npy"
    : >"$work/$task/ours_${key}.runs"
    for ((i = 0; i < repeats; i++)); do
        if line="$("$bin" reconstruct --operator "$op" --measurements "$work/$task/y.npy" \
            --method "$method" --output "$out" --reference "$work/$task/x.npy" --quiet --json \
            2>"$work/$task/ours_${key}.err")"; then
            echo "$line" >>"$work/$task/ours_${key}.runs"
        else
            ok=0
            err="$(grep -m1 '^error' "$work/$task/ours_${key}.err" || tail -1 "$work/$task/ours_${key}.err")"
            break
        fi
    done
    "$py" - "$task" "$key" "$method" "$ok" "${err:-}" "$work/$task/ours_${key}.runs" \
        >>"$work/ours.jsonl" <<'PY'
import json, statistics, sys
task, key, method, ok, err, runs = sys.argv[1:]
rec = {"task": task, "method": key, "library": "posterior", "spec": method}
if ok != "1":
    rec["error"] = err or "failed without a message"
else:
    rs = [json.loads(l) for l in open(runs) if l.strip()]
    rec.update(rs[-1])
    rec["method"], rec["spec"] = key, method
    rec["seconds_runs"] = [r["seconds"] for r in rs]
    rec["seconds"] = statistics.median(rec["seconds_runs"])
print(json.dumps(rec))
PY
    echo "  ours $task $key: $(tail -1 "$work/ours.jsonl" | cut -c1-160)" >&2
}

echo "running posterior ($bin, $repeats repeats) ..." >&2
for task in ${tasks//,/ }; do
    case "$task" in
        T2) run_ours T2 tv-admm "$T2_METHOD" ;;
        T3) run_ours T3 tv-pdhg "$T3_METHOD" ;;
        T4)
            run_ours T4 l1-wavelet "$T4_WAVELET_METHOD"
            run_ours T4 tv "$T4_TV_METHOD"
            ;;
    esac
done

# ---------------------------------------------------------------- 4. table
"$py" - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
read = lambda n: [json.loads(l) for l in open(os.path.join(work, n)) if l.strip().startswith("{")]
peers = [r for r in read("peers.jsonl") if "psnr" in r and "method" in r]
ours = {(r["task"], r["method"]): r for r in read("ours.jsonl")}
checks = read("checks.jsonl")
names = {"T2": "T2 TV deblur", "T3": "T3 TV CT", "T4": "T4 MRI"}
f = lambda v, fmt: "–" if v is None else format(v, fmt)
print("| task | method | library | PSNR (dB) | SSIM | seconds (median) | iterations | objective | time peer/ours |")
print("|---|---|---|---|---|---|---|---|---|")
for p in peers:
    key = (p["task"], p["method"])
    print(f"| {names.get(p['task'], p['task'])} | {p['method']} | {p['library']} | {f(p['psnr'], '.2f')} | "
          f"{f(p['ssim'], '.4f')} | {f(p['seconds'], '.3f')} | {p['iterations']} | {f(p.get('objective'), '.6g')} | |")
    o = ours.get(key)
    if o is None:
        print(f"| | {p['method']} | posterior | not run | | | | | |")
    elif "error" in o:
        msg = o["error"].replace("|", "\\|")
        print(f"| | `{o['spec']}` | posterior | **failed**: {msg} | | | | | |")
    else:
        ratio = p["seconds"] / o["seconds"] if o["seconds"] > 0 else None
        print(f"| | `{o['spec']}` | posterior | {f(o.get('psnr'), '.2f')} | {f(o.get('ssim'), '.4f')} | "
              f"{f(o['seconds'], '.3f')} | {o['iterations']} | {f(o.get('objective'), '.6g')} | "
              f"{f(ratio, '.1f')}{'x' if ratio else ''} |")
print()
for c in checks:
    if "error" in c:
        print(f"* operator check {c['task']} `{c['operator']}`: **failed**: {c['error']}")
    else:
        print(f"* operator check {c['task']} `{c['operator']}`: max |A x (posterior) - A x (Python)| / max |A x| = "
              f"{c['max_rel_diff']:.2e} ({'ok' if c['ok'] else 'MISMATCH'})")
print("* PSNR/SSIM: estimate (its magnitude for T4) clipped to [0, 1], data range 1, SSIM with "
      "scikit-image's 7x7 uniform window; seconds: the solve only, median over the repeats; "
      "objective: the value each side reports at its final iterate (the peers': the objectives "
      "documented in scripts/peers/map_peers.py, in float64), comparable only where our spec "
      "states the same objective")
print(f"* inputs, estimates and raw JSON lines: {work}")
PY
