#!/usr/bin/env bash
# Decode + augment throughput: bigbatch's folder and shard readers vs torchvision ImageFolder +
# DataLoader (PIL), same transform (RandomResizedCrop 224, flip, normalise), alternated for R
# rounds in one run; prints every run and a table of medians, per core, and the ratio.
# Usage: bench/input/run.sh [--build build-data] [--data /tmp/bigbatch-input] [--images 512] [--rounds 3]
set -euo pipefail
build=build-data data=/tmp/bigbatch-input images=512 rounds=3 epochs=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --images) images="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "$0")" && pwd)"
bench="$build/bench/input_bench"
[[ -x "$bench" ]] || { echo "run.sh: build $bench first (cmake --build $build --target input_bench bigbatch)" >&2; exit 1; }
[[ -d "$data/tree/train" ]] || /usr/bin/python3 "$here/make_images.py" "$data/tree" --images "$images"
[[ -f "$data/shards/train.index" ]] || "$build/bigbatch" pack "$data/tree" -o "$data/shards" >/dev/null
echo "# $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
  for t in 1 2; do
    for reader in folder shards; do
      line=$("$bench" --dir "$data/$([[ $reader == folder ]] && echo tree || echo shards)" --reader "$reader" \
               --threads "$t" --epochs "$epochs")
      echo "round $round: $line"; echo "bigbatch-$reader $t $line" >> "$results"
    done
    workers=$([[ $t == 1 ]] && echo 0 || echo "$t")
    line=$(/usr/bin/python3 "$here/torch_input.py" --dir "$data/tree" --workers "$workers" --epochs "$epochs")
    echo "round $round: $line"; echo "torchvision $t $line" >> "$results"
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, cores, payload = line.split(" ", 2)
    runs.setdefault((name, int(cores)), []).append(json.loads(payload)["img_per_s"])
print("\n| reader | cores | img/s (median) | img/s per core | vs torchvision |")
print("| --- | --- | --- | --- | --- |")
for cores in (1, 2):
    peer = statistics.median(runs[("torchvision", cores)])
    for name in ("bigbatch-folder", "bigbatch-shards", "torchvision"):
        rates = runs[(name, cores)]
        m = statistics.median(rates)
        label = {"torchvision": f"torchvision ImageFolder+DataLoader ({'num_workers=0' if cores == 1 else 'num_workers=2'})",
                 "bigbatch-folder": "bigbatch imagefolder", "bigbatch-shards": "bigbatch imageshards"}[name]
        print(f"| {label} | {cores} | {m:.0f} ({', '.join(f'{r:.0f}' for r in rates)}) | {m / cores:.0f} | {m / peer:.2f}x |")
PY
