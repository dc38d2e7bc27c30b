#!/usr/bin/env bash
# The paper's ablations at small scale: every cell of experiments/sweep/cells.txt for every
# seed, each a plain `bigbatch train` of experiments/sweep/base.toml plus the cell's flags, then
# the tables and figures (experiments/sweep/report.py).
#
# usage: experiments/sweep/run.sh [-j JOBS] [--threads T] [--seeds "0 1"] [--groups abcde]
#                                 [--out DIR] [--report-only] [-- FLAG...]
#   -j JOBS        runs at the same time (default 2); each gets --threads T (default 1), so
#                  JOBS x T should be the core count
#   --seeds LIST   seeds of every cell (default "0 1")
#   --groups G     only the cells of these groups (default abcde; see cells.txt)
#   --out DIR      where the runs go (default runs/sweep): DIR/s<seed>/<cell>/
#   --report-only  skip training, redo the tables and figures from what is in DIR
#   FLAG...        after --: overrides given to every run (e.g. --epochs 30 --model resnet20
#                  on a bigger machine; a different DIR keeps the two apart)
# environment: BIGBATCH=PATH (default build/bigbatch).
#
# A run whose metrics.jsonl already holds its last epoch is skipped, so an interrupted sweep is
# continued by running the same command again (an unfinished run starts over). Each run's log
# is DIR/s<seed>/<cell>.log. Exits non-zero if any run failed, after running all the others.
set -euo pipefail

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

jobs=2 threads=1 seeds="0 1" groups=abcde out="$root/runs/sweep" report_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -j) jobs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --groups) groups="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --) shift; break ;;
    *) echo "run.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
overrides=("$@")
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: error: -j expects a count >= 1, got '$jobs'" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: error: --threads expects a count >= 1, got '$threads'" >&2; exit 2; }
[[ "$groups" =~ ^[a-e]+$ ]] || { echo "run.sh: error: --groups expects letters a-e, got '$groups'" >&2; exit 2; }
for s in $seeds; do
  [[ "$s" =~ ^[0-9]+$ ]] || { echo "run.sh: error: seeds must be integers, got '$s'" >&2; exit 2; }
done
bigbatch="${BIGBATCH:-$root/build/bigbatch}"
[[ -x "$bigbatch" ]] || { echo "run.sh: error: no bigbatch binary at $bigbatch (run 'make build' or set BIGBATCH)" >&2; exit 1; }
python="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out"

# The runs to make, one line each: SEED CELL FLAGS...
plan="$out/plan.txt"
: >"$plan"
for seed in $seeds; do
  while read -r group cell flags; do
    [[ -z "$group" || "$group" == \#* ]] && continue
    [[ "$groups" == *"$group"* ]] || continue
    echo "$seed $cell $flags" >>"$plan"
  done <"$here/cells.txt"
done

# finished DIR: whether DIR's run reached its last epoch (the epochs of its resolved config.toml).
finished() {
  local epochs
  [[ -f "$1/config.toml" && -f "$1/metrics.jsonl" ]] || return 1
  epochs="$(sed -n 's/^epochs = //p' "$1/config.toml")"
  [[ -n "$epochs" ]] && grep -q "\"epoch\":$epochs,\"kind\":\"epoch\"" "$1/metrics.jsonl"
}

# train_one SEED CELL FLAGS...: one run into DIR/s<seed>/<cell>, unless it is already done.
train_one() {
  local seed="$1" cell="$2"
  shift 2
  local dir="$out/s$seed/$cell"
  if finished "$dir"; then
    echo "[sweep] s$seed/$cell: done already" >&2
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$out/s$seed"
  local t0=$SECONDS
  if "$bigbatch" train --config "$here/base.toml" "$@" --seed "$seed" --threads "$threads" "${overrides[@]}" \
      --out "$dir" >"$out/s$seed/$cell.log" 2>&1; then
    echo "[sweep] s$seed/$cell: $(grep -m1 '^test error' "$out/s$seed/$cell.log") ($((SECONDS - t0)) s)" >&2
  else
    echo "[sweep] s$seed/$cell: FAILED, see $out/s$seed/$cell.log: $(tail -n 1 "$out/s$seed/$cell.log")" >&2
    return 1
  fi
}

failed=0
if [[ "$report_only" -eq 0 ]]; then
  total="$(wc -l <"$plan")"
  echo "[sweep] $total runs, $jobs at a time with $threads thread(s) each, into $out" >&2
  running=0
  while read -r seed cell flags; do
    # shellcheck disable=SC2086  # the cell's flags are words
    train_one "$seed" "$cell" $flags &
    running=$((running + 1))
    if [[ "$running" -ge "$jobs" ]]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  done <"$plan"
  while [[ "$running" -gt 0 ]]; do
    wait -n || failed=1
    running=$((running - 1))
  done
fi

BIGBATCH="$bigbatch" "$python" "$here/report.py" --runs "$out" --cells "$here/cells.txt" --seeds "$seeds"
exit "$failed"
