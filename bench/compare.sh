#!/usr/bin/env bash
# Alternates `bigbatch bench`, optionally an older bigbatch binary, and the PyTorch peer (plain
# NCHW and channels_last) in one run, R rounds per case, and prints each run's img/s, the
# medians and spreads, bigbatch / PyTorch's best config, new / old, and the peak RSS of each.
# Usage: bench/compare.sh --help
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: bench/compare.sh [--rounds R] [--steps S] [--warmup W] [--bigbatch PATH] [--old PATH]
                        [--case "MODEL CxHxW BATCH THREADS PRECISION [PYTORCH_PRECISION]"]...
  --rounds R     rounds per case, each running all three configs once (default 3)
  --steps S      timed steps per run (default 10); --warmup W untimed steps first (default 3)
  --bigbatch P   the bigbatch binary (default build/bigbatch)
  --old P        also an older bigbatch binary (e.g. a build of the commit before a change):
                 a fourth column and the new / old ratio, to show a change costs no speed
  --case "..."   a case to run instead of the defaults; may repeat. PYTORCH_PRECISION
                 defaults to PRECISION (f32 or bf16; PyTorch bf16 is autocast).
default cases:
  resnet20 1x28x28   128 2 f32
  resnet50 3x224x224 16  2 f32
  resnet20 1x28x28   128 2 bf16 f32    (bigbatch bf16 vs PyTorch f32)
USAGE
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3 steps=10 warmup=3 bigbatch="$root/build/bigbatch" old=""
python=/usr/bin/python3  # Debian's interpreter, which has python3-torch
cases=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --bigbatch) bigbatch="$2"; shift 2 ;;
    --old) old="$2"; shift 2 ;;
    --case) cases+=("$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ${#cases[@]} -eq 0 ]]; then
  cases=("resnet20 1x28x28 128 2 f32" "resnet50 3x224x224 16 2 f32" "resnet20 1x28x28 128 2 bf16 f32")
fi
[[ -x "$bigbatch" ]] || { echo "compare.sh: error: no bigbatch binary at $bigbatch (run 'make build')" >&2; exit 1; }
[[ -z "$old" || -x "$old" ]] || { echo "compare.sh: error: no bigbatch binary at $old (--old)" >&2; exit 1; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: error: --rounds must be >= 1, got '$rounds'" >&2; exit 2; }

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

# run_one NAME OUTFILE CMD...: appends the command's JSON line to OUTFILE, or a failure marker.
run_one() {
  local name="$1" out="$2"
  shift 2
  local line
  if line="$("$@" 2>"$workdir/stderr")"; then
    printf '%s\n' "$line" | tail -n 1 >>"$out"
  else
    echo "  $name failed: $(tail -n 1 "$workdir/stderr")" >&2
    echo '{"failed": true}' >>"$out"
  fi
}

for spec in "${cases[@]}"; do
  read -r model input batch threads precision pt_precision <<<"$spec"
  pt_precision="${pt_precision:-$precision}"
  [[ -n "$threads" ]] || { echo "compare.sh: error: bad --case '$spec' (see --help)" >&2; exit 2; }
  echo "== $model $input batch $batch threads $threads: bigbatch $precision vs PyTorch $pt_precision ($rounds rounds)"
  bb="$workdir/bigbatch.jsonl" pt="$workdir/pytorch.jsonl" cl="$workdir/pytorch_cl.jsonl" ob="$workdir/old.jsonl"
  : >"$bb"; : >"$pt"; : >"$cl"; : >"$ob"
  common=(--model "$model" --input "$input" --batch "$batch" --threads "$threads" --steps "$steps" --warmup "$warmup"
          --json)
  for ((r = 1; r <= rounds; ++r)); do
    echo "  round $r/$rounds" >&2
    # Alternating engines within a round spreads any drift of the machine over all of them.
    run_one bigbatch "$bb" "$bigbatch" bench "${common[@]}" --precision "$precision"
    [[ -z "$old" ]] || run_one bigbatch-old "$ob" "$old" bench "${common[@]}" --precision "$precision"
    run_one pytorch "$pt" "$python" "$root/bench/pytorch/train_step.py" "${common[@]}" --precision "$pt_precision"
    run_one pytorch-channels_last "$cl" "$python" "$root/bench/pytorch/train_step.py" "${common[@]}" \
      --precision "$pt_precision" --channels-last
  done
  "$python" - "$bb" "$pt" "$cl" "$ob" <<'PY'
import json, statistics, sys

names = ["bigbatch", "pytorch", "pytorch-cl", "bigbatch-old"]
runs = [[json.loads(line) for line in open(path) if line.strip()] for path in sys.argv[1:]]
if not runs[3]:
    names, runs = names[:3], runs[:3]
def ok(rs): return [r for r in rs if not r.get("failed")]
print(f"  {'round':<8}" + "".join(f"{n + ' img/s':>20}" for n in names))
for i in range(max(len(rs) for rs in runs)):
    cells = []
    for rs in runs:
        r = rs[i] if i < len(rs) else {"failed": True}
        cells.append("failed" if r.get("failed") else f"{r['img_per_s']:.1f}")
    print(f"  {i + 1:<8}" + "".join(f"{c:>20}" for c in cells))
med = [statistics.median([r["img_per_s"] for r in ok(rs)]) if ok(rs) else None for rs in runs]
rss = [max(r["peak_rss_mib"] for r in ok(rs)) if ok(rs) else None for rs in runs]
print(f"  {'median':<8}" + "".join(f"{m:>20.1f}" if m else f"{'-':>20}" for m in med))
def spread(rs):  # (max - min) / median over the rounds, in percent
    xs = [r["img_per_s"] for r in ok(rs)]
    return 100.0 * (max(xs) - min(xs)) / statistics.median(xs) if len(xs) > 1 else None
sp = [spread(rs) for rs in runs]
print(f"  {'spread':<8}" + "".join(f"{s:>19.1f}%" if s is not None else f"{'-':>20}" for s in sp))
print(f"  {'RSS MiB':<8}" + "".join(f"{m:>20.1f}" if m else f"{'-':>20}" for m in rss))
params = {r["params"] for rs in runs for r in ok(rs)}
if len(params) > 1:
    print(f"  WARNING: the engines' parameter counts differ: {sorted(params)}")
if med[0] and (med[1] or med[2]):
    best = 1 if (med[1] or 0) >= (med[2] or 0) else 2
    print(f"  bigbatch / PyTorch best ({'plain NCHW' if best == 1 else 'channels_last'}): {med[0] / med[best]:.2f}x")
else:
    print("  ratio: n/a (a config failed every round)")
if len(runs) == 4 and med[0] and med[3]:
    print(f"  bigbatch new / old: {med[0] / med[3]:.3f}x (spreads {sp[0] or 0:.1f}% and {sp[3] or 0:.1f}%)")
PY
done
