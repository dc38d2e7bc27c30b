#!/usr/bin/env bash
# Does a change leave the CPU arithmetic alone? Records three short training runs with one
# binary and checks that another binary writes byte-identical checkpoints and the same losses:
#   resnet20 on Fashion-MNIST, kn 96 = 3 workers x 32, 30 iterations, direct convolution, 1 thread,
#   1. whole steps, 2. --micro-batch 32 (accumulated), 3. mpirun -np 3 (one worker per rank).
#
#   bench/arithmetic_check.sh record  DIR [BIGBATCH]   # e.g. with the binary before a refactor
#   bench/arithmetic_check.sh compare DIR [BIGBATCH]   # the new binary against DIR
#
# Exit 0 when every checkpoint's tensors (the bytes after the header) and every logged loss are
# identical, 1 when one differs. The header's metadata is compared too and its differences
# listed: a new configuration key changes the recorded configuration, not the arithmetic.
set -euo pipefail

usage() { sed -n 2,10p "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 2 ]] || usage
mode=$1 dir=$2
bin=$(realpath -m "${3:-${BIGBATCH:-build/bigbatch}}")
[[ $mode == record || $mode == compare ]] || usage
[[ -x $bin ]] || { echo "arithmetic_check: no binary at $bin (build first, or pass its path)" >&2; exit 2; }

common=(train --model resnet20 --dataset fashion-mnist --global-batch 96 --per-worker-batch 32
        --max-iters 30 --epochs 90 --threads 1 --log-every 1 --progress off --checkpoint-every 1000)
export BIGBATCH_CONV_ALGORITHM=direct
mpirun_flags=(--oversubscribe)
[[ $(id -u) == 0 ]] && mpirun_flags+=(--allow-run-as-root)

run_all() {  # $1 = where the three run directories go
  local out=$1
  rm -rf "$out" && mkdir -p "$out"
  echo "arithmetic_check: $bin -> $out (whole, micro-batch 32, mpirun -np 3)"
  # The same relative --out in both sets: the checkpoint records the resolved configuration.
  (cd "$out" &&
    "$bin" "${common[@]}" --out whole >whole.log 2>&1 &&
    "$bin" "${common[@]}" --micro-batch 32 --out micro >micro.log 2>&1 &&
    mpirun "${mpirun_flags[@]}" -np 3 "$bin" "${common[@]}" --out mpi >mpi.log 2>&1)
}

losses() {  # the logged losses of one run, one per line (wall times and rates left out)
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "iter": print(r["iter"], repr(r["loss"]))
    if r.get("kind") == "epoch": print("epoch", r["epoch"], repr(r["train_loss"]), repr(r["test_loss"]))
' "$1"
}

ref="$dir/ref"
if [[ $mode == record ]]; then
  run_all "$ref"
  for run in whole micro mpi; do losses "$ref/$run/metrics.jsonl" >"$ref/$run.losses"; done
  echo "arithmetic_check: recorded in $dir"
  exit 0
fi

[[ -d $ref/whole ]] || { echo "arithmetic_check: nothing recorded in $dir (run 'record' first)" >&2; exit 2; }
new="$dir/new"
run_all "$new"
status=0
compare_checkpoints() {  # REF NEW: prints one line, exits 1 when the tensors differ
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
(ha, da), (hb, db) = read(sys.argv[1]), read(sys.argv[2])
ma, mb = ha.pop("__metadata__", {}), hb.pop("__metadata__", {})
same_tensors = da == db and ha == hb
notes = []
for k in sorted(set(ma) | set(mb)):
    if ma.get(k) == mb.get(k): continue
    if k == "bigbatch.config":
        la, lb = set(ma.get(k, "").splitlines()), set(mb.get(k, "").splitlines())
        notes.append("config lines added %s, removed %s" % (sorted(lb - la), sorted(la - lb)))
    else:
        notes.append("metadata %s differs" % k)
print(("tensors byte-identical" if same_tensors else "tensors DIFFER") + ("; " + "; ".join(notes) if notes else "; header identical"))
sys.exit(0 if same_tensors else 1)
PY
}
for run in whole micro mpi; do
  line=$(compare_checkpoints "$ref/$run/checkpoints/last.safetensors" "$new/$run/checkpoints/last.safetensors") ||
    status=1
  echo "  $run: checkpoint $line"
  if diff -q "$ref/$run.losses" <(losses "$new/$run/metrics.jsonl") >/dev/null; then
    echo "  $run: $(wc -l <"$ref/$run.losses") logged losses identical"
  else
    echo "  $run: losses DIFFER"; diff "$ref/$run.losses" <(losses "$new/$run/metrics.jsonl") | head -5; status=1
  fi
done
exit $status
