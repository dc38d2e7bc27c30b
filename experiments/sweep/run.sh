#!/usr/bin/env bash
# The paper's ablations at small scale: every cell of a sweep's cells.txt for every seed, each a
# plain `bigbatch train` of the sweep's base.toml plus the cell's flags, then the sweep's tables
# and figures (its report.py).
#
# usage: experiments/sweep/run.sh [--sweep DIR] [-j JOBS] [--threads T] [--seeds "0 1"]
#                                 [--groups abcde] [--out DIR] [--record DIR] [--report-only]
#                                 [-- FLAG...]
#   --sweep DIR    the sweep's files: DIR/base.toml, DIR/cells.txt, DIR/report.py (default
#                  experiments/sweep, the 10-epoch study; experiments/sweep2 is the 30-epoch one)
#   -j JOBS        runs at the same time (default 2); each gets --threads T (default 1), so
#                  JOBS x T should be the core count
#   --seeds LIST   seeds of every cell (default "0 1"); a cell whose flags start with seeds=N
#                  runs only the first N of them; a cell whose flags start with --peer pytorch
#                  runs bench/pytorch/train_fmnist.py on the same base and flags instead
#   --groups G     only the cells of these groups (default: all; see cells.txt)
#   --out DIR      where the runs go (default runs/<sweep name>): DIR/s<seed>/<cell>/
#   --record DIR   where a finished run's config.toml and metrics.jsonl are copied (default
#                  DIR/results of the sweep, which is tracked: a sweep outlives the machine it
#                  ran on); a cell recorded there is not run again, and the report reads it
#   --report-only  skip training, redo the tables and figures from what is in DIR
#   FLAG...        after --: overrides given to every run (e.g. --epochs 30 --model resnet20
#                  on a bigger machine; a different DIR keeps the two apart)
# environment: BIGBATCH=PATH (default build/bigbatch).
#
# A run whose metrics.jsonl already holds its last epoch is skipped; an unfinished run that has
# a checkpoint continues from it (`bigbatch train --resume`, bitwise the same as uninterrupted),
# one without starts over. So an interrupted sweep is continued by running the same command
# again. Each run's log is DIR/s<seed>/<cell>.log. Exits non-zero if any run failed, after
# running all the others.
set -euo pipefail

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

jobs=2 threads=1 seeds="0 1" groups="" out="" record="" report_only=0 sweep="$here"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --sweep) sweep="$(cd "$2" && pwd)"; shift 2 ;;
    -j) jobs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --groups) groups="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --record) record="$2"; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --) shift; break ;;
    *) echo "run.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
overrides=("$@")
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: error: -j expects a count >= 1, got '$jobs'" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: error: --threads expects a count >= 1, got '$threads'" >&2; exit 2; }
[[ -z "$groups" || "$groups" =~ ^[a-z]+$ ]] || { echo "run.sh: error: --groups expects letters, got '$groups'" >&2; exit 2; }
for f in base.toml cells.txt report.py; do
  [[ -f "$sweep/$f" ]] || { echo "run.sh: error: no $sweep/$f (see --sweep)" >&2; exit 2; }
done
[[ -n "$out" ]] || out="$root/runs/$(basename "$sweep")"
[[ -n "$record" ]] || record="$sweep/results"
for s in $seeds; do
  [[ "$s" =~ ^[0-9]+$ ]] || { echo "run.sh: error: seeds must be integers, got '$s'" >&2; exit 2; }
done
bigbatch="${BIGBATCH:-$root/build/bigbatch}"
[[ -x "$bigbatch" ]] || { echo "run.sh: error: no bigbatch binary at $bigbatch (run 'make build' or set BIGBATCH)" >&2; exit 1; }
python="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out" "$record"

# The runs to make, one line each: SEED CELL FLAGS... Kept in memory, not in a file under $out:
# two sweeps over different groups may share $out, and one must not rewrite the other's plan.
plan=()
rank=0
for seed in $seeds; do
  rank=$((rank + 1))
  while read -r group cell flags; do
    [[ -z "$group" || "$group" == \#* ]] && continue
    [[ -z "$groups" || "$groups" == *"$group"* ]] || continue
    if [[ "$flags" =~ ^seeds=([0-9]+)\ (.*)$ ]]; then
      (( rank <= BASH_REMATCH[1] )) || continue
      flags="${BASH_REMATCH[2]}"
    fi
    plan+=("$seed $cell $flags")
  done <"$sweep/cells.txt"
done

# finished DIR: whether DIR's run reached its last epoch (the epochs of its resolved config.toml).
finished() {
  local epochs
  [[ -f "$1/config.toml" && -f "$1/metrics.jsonl" ]] || return 1
  epochs="$(sed -n 's/^epochs = //p' "$1/config.toml")"
  # bigbatch writes {"epoch":N,"kind":"epoch",...}, the PyTorch peer {"kind": "epoch", "epoch": N, ...}
  [[ -n "$epochs" ]] && grep -E '"kind": ?"epoch"' "$1/metrics.jsonl" | grep -qE "\"epoch\": ?${epochs}[,}]"
}

# keep RUN RECORD: copy a finished run's config and metrics (a few kB) into the record.
keep() {
  mkdir -p "$2"
  cp "$1/config.toml" "$1/metrics.jsonl" "$2/"
}

# train_one SEED CELL FLAGS...: one run into DIR/s<seed>/<cell>, unless it is already done.
train_one() {
  local seed="$1" cell="$2"
  shift 2
  local dir="$out/s$seed/$cell" kept="$record/s$seed/$cell"
  if finished "$kept"; then
    echo "[sweep] s$seed/$cell: recorded already" >&2
    return 0
  fi
  if finished "$dir"; then
    keep "$dir" "$kept"
    echo "[sweep] s$seed/$cell: done already" >&2
    return 0
  fi
  mkdir -p "$out/s$seed"
  # One sweep per run directory: a second sweep given the same cell leaves it to the first.
  local lock
  exec {lock}>"$dir.lock"
  if ! flock -n "$lock"; then
    echo "[sweep] s$seed/$cell: another sweep is running it, left to that one" >&2
    return 0
  fi
  local t0=$SECONDS cmd
  if [[ "${1:-}" == "--peer" ]]; then
    # The PyTorch peer (bench/pytorch/train_fmnist.py) on the same base and flags; an unfinished
    # run continues after its last whole epoch (its checkpoint.pt).
    [[ "${2:-}" == pytorch ]] || { echo "[sweep] s$seed/$cell: unknown peer '${2:-}'" >&2; return 1; }
    shift 2
    if [[ -f "$dir/config.toml" && -f "$dir/checkpoint.pt" ]]; then
      echo "[sweep] s$seed/$cell: continuing from its checkpoint" >&2
      cmd=("$python" "$root/bench/pytorch/train_fmnist.py" --resume "$dir" --threads "$threads")
    else
      rm -rf "$dir"
      : >"$out/s$seed/$cell.log"
      cmd=("$python" "$root/bench/pytorch/train_fmnist.py" --config "$sweep/base.toml" "$@" --seed "$seed"
           --threads "$threads" "${overrides[@]}" --out "$dir")
    fi
  elif [[ -f "$dir/config.toml" && -f "$dir/checkpoints/last.safetensors" ]]; then
    echo "[sweep] s$seed/$cell: continuing from its checkpoint" >&2
    cmd=("$bigbatch" train --resume "$dir" --threads "$threads")
  else
    rm -rf "$dir"
    : >"$out/s$seed/$cell.log"
    cmd=("$bigbatch" train --config "$sweep/base.toml" "$@" --seed "$seed" --threads "$threads" "${overrides[@]}"
         --out "$dir")
  fi
  if "${cmd[@]}" >>"$out/s$seed/$cell.log" 2>&1 && keep "$dir" "$kept"; then
    echo "[sweep] s$seed/$cell: $(grep -m1 '^test error' "$out/s$seed/$cell.log") ($((SECONDS - t0)) s)" >&2
  else
    echo "[sweep] s$seed/$cell: FAILED, see $out/s$seed/$cell.log: $(tail -n 1 "$out/s$seed/$cell.log")" >&2
    return 1
  fi
}

failed=0
if [[ "$report_only" -eq 0 ]]; then
  total="${#plan[@]}"
  echo "[sweep] $total runs, $jobs at a time with $threads thread(s) each, into $out" >&2
  running=0
  for line in "${plan[@]}"; do
    read -r seed cell flags <<<"$line"
    # shellcheck disable=SC2086  # the cell's flags are words
    train_one "$seed" "$cell" $flags &
    running=$((running + 1))
    if [[ "$running" -ge "$jobs" ]]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  done
  while [[ "$running" -gt 0 ]]; do
    wait -n || failed=1
    running=$((running - 1))
  done
fi

BIGBATCH="$bigbatch" "$python" "$sweep/report.py" --runs "$record" --cells "$sweep/cells.txt" --seeds "$seeds"
exit "$failed"
