#!/usr/bin/env bash
# Ranks vs threads on one machine: the same global batch trained as 2 MPI ranks x 1 thread
# and as 1 process x 2 threads, in bigbatch and in PyTorch (DDP over gloo vs one process),
# alternated round by round; prints every run's img/s, the medians and the ratio
# (2 ranks x 1 thread) / (1 x 2 threads).
#
#   bench/scaling.sh [--build DIR] [--rounds 3] [--iters 40] [--skip 10] [--model resnet20]
#                    [--dataset synthetic|fashion-mnist] [--synthetic-size 12288] [--global-batch 256]
#                    [--per-worker 32] [--bucket-mib 25] [--omp-wait-policy active|passive]
#                    [--no-pytorch] [--out DIR]
#
# bigbatch: `bigbatch train --max-iters ITERS --log-every 1`, img/s from metrics.jsonl's "iter"
# lines after the first SKIP (global batch x iterations / their summed time). 2 ranks:
# `mpirun -np 2 --bind-to none` (Open MPI's default transport: shared memory on one machine),
# --threads 1 each; k = kn/n workers split over the ranks, one backward per rank, buckets
# overlapped with backward. 1 x 2: no mpirun, --threads 2. PyTorch: pytorch/ddp_scaling.py
# (same model, batch, ghost BN groups of n, synthetic data). The synthetic set's default size
# gives 48 iterations per epoch, so no evaluation falls inside the timed iterations.
# --omp-wait-policy exports OMP_WAIT_POLICY to every run (default: unset, the OpenMP
# runtime's own). On a machine loaded by other processes, a team of 2 spinning OpenMP
# threads loses a time slice at every barrier: passive is then the fair setting (RESULTS.md).
# Run on a quiet machine: each run is short, and the load is printed before and after.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="$repo/build-dist"
rounds=3 iters=40 skip=10 model=resnet20 dataset=synthetic synthetic_size=12288 kn=256 n=32 bucket_mib=25
pytorch=1 out="" policy=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --iters) iters="$2"; shift 2 ;;
    --skip) skip="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --dataset) dataset="$2"; shift 2 ;;
    --synthetic-size) synthetic_size="$2"; shift 2 ;;
    --omp-wait-policy) policy="$2"; shift 2 ;;
    --global-batch) kn="$2"; shift 2 ;;
    --per-worker) n="$2"; shift 2 ;;
    --bucket-mib) bucket_mib="$2"; shift 2 ;;
    --no-pytorch) pytorch=0; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bigbatch="$build/bigbatch"
[[ -x "$bigbatch" ]] || { echo "scaling.sh: $bigbatch missing: cmake --build $build --target bigbatch" >&2; exit 1; }
(( skip < iters )) || { echo "scaling.sh: --skip must be below --iters" >&2; exit 2; }
out="${out:-$repo/runs/scaling-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
results="$out/results.tsv"
printf 'round\tengine\tlayout\timg_per_s\n' > "$results"
mpi=(mpirun --bind-to none)
if [[ -n "$policy" ]]; then export OMP_WAIT_POLICY="$policy"; mpi+=(-x OMP_WAIT_POLICY); fi
[[ "$(id -u)" -eq 0 ]] && mpi+=(--allow-run-as-root --oversubscribe)

# img/s over metrics.jsonl's iter lines after the first $skip: kn x count / summed step time.
throughput() {
  /usr/bin/python3 - "$1" "$skip" "$kn" <<'EOF'
import json, sys
path, skip, kn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
its = [json.loads(l) for l in open(path) if '"iter"' in l]
its = [r for r in its if r.get("kind") == "iter" and r["iter"] > skip]
print(f"{kn * len(its) / sum(kn / r['img_per_s'] for r in its):.1f}")
EOF
}

train_flags=(--model "$model" --dataset "$dataset" --synthetic-size "$synthetic_size" --global-batch "$kn" --per-worker-batch "$n" --max-iters "$iters"
             --log-every 1 --progress off --bucket-mib "$bucket_mib" --warmup-epochs 0 --augment none)
run_bigbatch() {  # LAYOUT ROUND
  local layout="$1" round="$2" dir="$out/bigbatch-$1-r$2"
  if [[ "$layout" == 2x1 ]]; then
    OMP_NUM_THREADS=1 "${mpi[@]}" -np 2 "$bigbatch" train "${train_flags[@]}" --threads 1 --out "$dir" > "$dir.log" 2>&1
  else
    OMP_NUM_THREADS=2 "$bigbatch" train "${train_flags[@]}" --threads 2 --out "$dir" > "$dir.log" 2>&1
  fi
  local ips
  ips="$(throughput "$dir/metrics.jsonl")"
  printf '%s\tbigbatch\t%s\t%s\n' "$round" "$layout" "$ips" >> "$results"
  echo "round $round bigbatch $layout: $ips img/s"
}
run_pytorch() {  # LAYOUT ROUND
  local layout="$1" round="$2" ranks=1 threads=2
  [[ "$layout" == 2x1 ]] && ranks=2 threads=1
  local line ips
  line="$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/pytorch/ddp_scaling.py" --ranks $ranks --threads $threads \
            --model "$model" --global-batch "$kn" --per-worker "$n" --iters "$iters" --skip "$skip" \
            --bucket-mib "$bucket_mib" --json 2>"$out/pytorch-$layout-r$round.log")"
  ips="$(echo "$line" | /usr/bin/python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["img_per_s"])')"
  printf '%s\tpytorch\t%s\t%s\n' "$round" "$layout" "$ips" >> "$results"
  echo "round $round pytorch $layout: $ips img/s"
}

echo "scaling: $model on $dataset, kn=$kn, n=$n, $iters iterations (first $skip left out), $rounds rounds," \
     "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
echo "machine: $(nproc) cores, load before $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
  # Alternate which layout goes first, so a drift in the machine's load hits both.
  if (( round % 2 )); then order=(2x1 1x2); else order=(1x2 2x1); fi
  for layout in "${order[@]}"; do run_bigbatch "$layout" "$round"; done
  if [[ $pytorch -eq 1 ]]; then
    for layout in "${order[@]}"; do run_pytorch "$layout" "$round"; done
  fi
done
echo "machine: load after $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$results" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print()
print("| engine | 2 ranks x 1 thread img/s | 1 x 2 threads img/s | ratio of medians | median of per-round ratios | runs (2x1; 1x2) |")
print("|---|---|---|---|---|---|")
for engine in ("bigbatch", "pytorch"):
    runs = {lay: [float(r["img_per_s"]) for r in rows if r["engine"] == engine and r["layout"] == lay] for lay in ("2x1", "1x2")}
    if not runs["2x1"] or not runs["1x2"]:
        continue
    a, b = statistics.median(runs["2x1"]), statistics.median(runs["1x2"])
    # Each round ran both layouts back to back: its ratio sees (nearly) the same machine load.
    by_round = {}
    for r in rows:
        if r["engine"] == engine:
            by_round.setdefault(r["round"], {})[r["layout"]] = float(r["img_per_s"])
    paired = statistics.median(v["2x1"] / v["1x2"] for v in by_round.values() if len(v) == 2)
    fmt = lambda v: ", ".join(f"{x:.0f}" for x in v)
    print(f"| {engine} | {a:.1f} | {b:.1f} | {a / b:.3f} | {paired:.3f} | {fmt(runs['2x1'])}; {fmt(runs['1x2'])} |")
EOF
echo "raw: $results"
