#!/usr/bin/env bash
# Time to accuracy, bigbatch vs PyTorch, on one configuration.
#
# usage: bench/time_to_accuracy.sh CONFIG TARGET_ERR [THREADS] [-- FLAG...]
#   CONFIG      a bigbatch TOML config (e.g. experiments/fmnist_resnet20.toml); both engines read it
#   TARGET_ERR  test top-1 error to reach: a fraction (0.10) or a percentage (10%)
#   THREADS     compute threads of each engine (default 2)
#   FLAG...     after --: configuration overrides given to both engines, e.g. a smoke run:
#               bench/time_to_accuracy.sh experiments/fmnist_resnet20.toml 0.3 2 -- --epochs 1 --warmup-epochs 0
# environment:
#   BIGBATCH=PATH       the bigbatch binary (default: build/bigbatch, else build-tta/bigbatch)
#   PYTHON=PATH         Debian's interpreter with python3-torch (default /usr/bin/python3)
#   PYTORCH_FLAGS="..." flags for the PyTorch peer only: --ghost-bn off, --channels-last
#   TTA_DIR=DIR         where the runs go (default runs/tta under the repository root)
#   TTA_PARALLEL=1      run both engines at the same time (THREADS compute threads each), so that
#                       whatever else runs on the machine slows both alike; for a ratio measured
#                       under load (THREADS x 2 should then be at most the core count)
#
# Runs `bigbatch train` and then bench/pytorch/train_fmnist.py (one after the other unless
# TTA_PARALLEL=1), each into
# TTA_DIR/<engine> with its log in TTA_DIR/<engine>.log; prints for each engine the first
# epoch whose test_top1_err <= TARGET_ERR and its wall_s (the time to accuracy: seconds from
# the start of training, evaluations included, data loading and set-up excluded), the final
# test error and the total time, then the PyTorch / bigbatch ratios; draws both runs' curves
# into TTA_DIR/curves.png with `bigbatch plot`.
set -euo pipefail

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }
[[ $# -ge 2 ]] || { usage >&2; exit 2; }
config="$1" target="$2"
shift 2
threads=2
if [[ $# -gt 0 && "$1" != "--" ]]; then threads="$1"; shift; fi
if [[ $# -gt 0 ]]; then
  [[ "$1" == "--" ]] || { echo "time_to_accuracy.sh: error: unexpected '$1' (overrides go after --)" >&2; exit 2; }
  shift
fi
overrides=("$@")

[[ -f "$config" ]] || { echo "time_to_accuracy.sh: error: no config file '$config'" >&2; exit 2; }
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "time_to_accuracy.sh: error: THREADS must be >= 1, got '$threads'" >&2; exit 2; }
if [[ "$target" == *% ]]; then
  target_frac="$(awk -v p="${target%\%}" 'BEGIN { if (p + 0 == p && p > 0 && p < 100) printf "%.10g", p / 100; else print "bad" }')"
else
  target_frac="$(awk -v p="$target" 'BEGIN { if (p + 0 == p && p > 0 && p < 1) printf "%.10g", p; else print "bad" }')"
fi
[[ "$target_frac" != bad ]] || {
  echo "time_to_accuracy.sh: error: TARGET_ERR must be a fraction in (0, 1) or a percentage such as 10%, got '$target'" >&2
  exit 2
}

bigbatch="${BIGBATCH:-}"
if [[ -z "$bigbatch" ]]; then
  bigbatch="$root/build/bigbatch"
  [[ -x "$bigbatch" ]] || bigbatch="$root/build-tta/bigbatch"
fi
[[ -x "$bigbatch" ]] || { echo "time_to_accuracy.sh: error: no bigbatch binary at $bigbatch (run 'make build' or set BIGBATCH)" >&2; exit 1; }
python="${PYTHON:-/usr/bin/python3}"  # Debian's interpreter, which has python3-torch
read -r -a pytorch_flags <<<"${PYTORCH_FLAGS:-}"
tta="${TTA_DIR:-$root/runs/tta}"
mkdir -p "$tta"

# run ENGINE CMD...: a fresh run directory, the log teed, the process's own wall time recorded.
run() {
  local engine="$1"
  shift
  rm -rf "${tta:?}/$engine"
  echo "== $engine: $*" >&2
  local t0 t1
  t0="$(date +%s.%N)"
  if ! "$@" 2>&1 | tee "$tta/$engine.log"; then
    echo "time_to_accuracy.sh: error: $engine failed (log: $tta/$engine.log)" >&2
    exit 1
  fi
  t1="$(date +%s.%N)"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >"$tta/$engine.process_s"
}

bigbatch_cmd=("$bigbatch" train --config "$config" --threads "$threads" --out "$tta/bigbatch" --progress on
  "${overrides[@]}")
pytorch_cmd=("$python" "$root/bench/pytorch/train_fmnist.py" --config "$config" --threads "$threads"
  --out "$tta/pytorch" "${pytorch_flags[@]}" "${overrides[@]}")
if [[ "${TTA_PARALLEL:-0}" == 1 ]]; then
  # Logs only (no tee to the terminal): two progress streams would interleave.
  run bigbatch "${bigbatch_cmd[@]}" >/dev/null &
  bigbatch_pid=$!
  run pytorch "${pytorch_cmd[@]}" >/dev/null &
  pytorch_pid=$!
  status=0
  wait "$bigbatch_pid" || status=1
  wait "$pytorch_pid" || status=1
  [[ "$status" -eq 0 ]] || exit 1
else
  run bigbatch "${bigbatch_cmd[@]}"
  run pytorch "${pytorch_cmd[@]}"
fi

"$python" - "$tta" "$target_frac" <<'PY'
import json, os, sys

tta, target = sys.argv[1], float(sys.argv[2])
rows = {}
for engine in ("bigbatch", "pytorch"):
    epochs = []
    with open(os.path.join(tta, engine, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if record.get("kind") == "epoch":
                    epochs.append(record)
    if not epochs:
        sys.exit(f"time_to_accuracy.sh: error: {engine} finished no epoch (see {tta}/{engine}.log)")
    hit = next((e for e in epochs if e["test_top1_err"] <= target), None)
    with open(os.path.join(tta, engine + ".process_s"), encoding="utf-8") as f:
        process_s = float(f.read())
    rows[engine] = {"hit": hit, "last": epochs[-1], "process_s": process_s}

print(f"\ntime to {100 * target:.2f}% test top-1 error ({tta}):")
print(f"{'engine':<9} {'epoch':>5} {'TTA (s)':>9} {'final err':>9} {'epochs':>6} {'train (s)':>9} "
      f"{'s/epoch':>8} {'process (s)':>11}")
for engine, r in rows.items():
    hit, last = r["hit"], r["last"]
    epoch = str(hit["epoch"]) if hit else "-"
    tta_s = f"{hit['wall_s']:.1f}" if hit else "not reached"
    print(f"{engine:<9} {epoch:>5} {tta_s:>9} {100 * last['test_top1_err']:>8.2f}% {last['epoch']:>6} "
          f"{last['wall_s']:>9.1f} {last['wall_s'] / last['epoch']:>8.1f} {r['process_s']:>11.1f}")
b, p = rows["bigbatch"], rows["pytorch"]
if b["hit"] and p["hit"]:
    print(f"ratio pytorch / bigbatch, time to accuracy: {p['hit']['wall_s'] / b['hit']['wall_s']:.2f}x")
else:
    print("ratio pytorch / bigbatch, time to accuracy: n/a (target not reached by "
          + " and ".join(e for e, r in rows.items() if not r["hit"]) + ")")
print(f"ratio pytorch / bigbatch, total training time: {p['last']['wall_s'] / b['last']['wall_s']:.2f}x "
      f"(per epoch: {p['last']['wall_s'] / p['last']['epoch'] / (b['last']['wall_s'] / b['last']['epoch']):.2f}x)")
PY

"$bigbatch" plot "$tta/bigbatch" "$tta/pytorch" -o "$tta/curves.png"
