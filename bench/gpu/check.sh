#!/usr/bin/env bash
# bench/gpu/check.sh: the prepared check of the CUDA backend on a bare GPU machine (CUDA,
# cmake, a compiler and PyTorch; no apt, no network), within about 8 minutes:
#   1 env        GPU, toolkit, cuDNN/NCCL locations, torch
#   2 configure  a GPU build in build-gpu (BIGBATCH_DNNL=OFF unless oneDNN is there; header-only
#                deps, GoogleTest sources and the data set from build-gpu-carry, made here by
#                bench/gpu/prepare_carry.sh and carried with the tree)
#   3 build      the CUDA tests and the bigbatch binary (only what they need)
#   4 tests      backend_cuda_test, cuda_executor_test and train_test's step cases (ops vs the
#                reference, executor vs the reference executor, optim::Sgd on the GPU vs the CPU,
#                the reducer on NCCL, the trainer's step on the GPU vs the reference step), XML
#   4b ps_gpu    `train --device cuda --comm ps` (W = 2, S = 1 and 2) vs one GPU process, where
#                the machine has mpirun (tests/comm/parameter_server_test.py gpu)
#   5 bench      ResNet-50, batch 256, through the trainer's own step (train::TrainStep, what
#                `train --device cuda` runs): bigbatch bf16 NHWC and PyTorch bf16 autocast
#                channels_last alternated (eager; torch.compile once if time allows), then TF32
#                and f32 pairs; Inception-v3 bf16 NHWC batch 64 (concat, dropout, the aux head)
#   6 tta        `bigbatch train --device cuda` on the default Fashion-MNIST job: time to 92%
# Every stage is guarded: a failure is logged (tail into summary.txt) and later stages still
# run when they can. Results: $OUT/summary.txt, $OUT/bench.jsonl, $OUT/tta.json, $OUT/*.log.
# usage: OUT=/some/dir bench/gpu/check.sh      (default OUT: runs/gpu-check)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
OUT="${OUT:-$root/runs/gpu-check}"
mkdir -p "$OUT"
carry="$root/build-gpu-carry"
build="$root/build-gpu"
summary="$OUT/summary.txt"
: >"$summary"
start=$SECONDS
budget=${CHECK_BUDGET_S:-470}  # seconds for the whole script; optional runs are skipped past it

log() { echo "[$(date -u +%T) +$((SECONDS - start))s] $*" | tee -a "$summary"; }
left() { echo $((budget - (SECONDS - start))); }
# stage NAME TIMEOUT_S CMD...: runs CMD with its output in $OUT/NAME.log; never stops the script.
stage() {
  local name="$1" limit="$2"
  shift 2
  log "$name: start (limit ${limit}s)"
  local rc=0
  # Through bash -c, so that CMD may be one of the exported functions below.
  timeout --signal=TERM --kill-after=10 "$limit" bash -c '"$@"' _ "$@" >"$OUT/$name.log" 2>&1 || rc=$?
  if [[ $rc -eq 0 ]]; then
    log "$name: ok"
  else
    log "$name: FAILED (exit $rc$([[ $rc -eq 124 ]] && echo ', timed out')); last lines of $name.log:"
    tail -n 25 "$OUT/$name.log" | sed 's/^/    /' | tee -a "$summary"
  fi
  return 0
}

# ---- 1 env -------------------------------------------------------------------------------
nvcc="$(command -v nvcc || true)"
[[ -n "$nvcc" ]] || nvcc=/usr/local/cuda/bin/nvcc
python="$(command -v python3 || echo /usr/bin/python3)"
# A library's root: a toolkit or system directory with include/HEADER, else the pip wheel's
# package directory (site-packages/nvidia/cudnn), else the first HEADER found under /usr or /opt.
find_root() {
  local header="$1" module="$2" d
  for d in "${CUDA_HOME:-}" "$(dirname "$(dirname "$nvcc")")" /usr/local/cuda /usr /usr/local; do
    [[ -n "$d" && -f "$d/include/$header" ]] && { echo "$d"; return; }
  done
  d="$("$python" -c "import importlib; m = importlib.import_module('$module'); print(list(m.__path__)[0])" 2>/dev/null || true)"
  [[ -n "$d" && -f "$d/include/$header" ]] && { echo "$d"; return; }
  d="$(find /usr /opt -name "$header" -path '*include*' 2>/dev/null | head -n 1 || true)"
  [[ -n "$d" ]] && dirname "$(dirname "$d")"
  return 0
}
cudnn_root="$(find_root cudnn.h nvidia.cudnn)"
nccl_root="$(find_root nccl.h nvidia.nccl)"
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .' || true)"
[[ "$arch" =~ ^[0-9]+$ ]] || arch=90
for lib in "$cudnn_root" "$nccl_root"; do
  for sub in lib lib64; do
    [[ -n "$lib" && -d "$lib/$sub" ]] && export LD_LIBRARY_PATH="$lib/$sub:${LD_LIBRARY_PATH:-}"
  done
done
env_report() {
  nvidia-smi || true
  "$nvcc" --version || true
  cmake --version | head -n 1
  c++ --version | head -n 1 || true
  echo "nvcc=$nvcc arch=$arch cudnn_root=${cudnn_root:-none} nccl_root=${nccl_root:-none} nproc=$(nproc)"
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0))" || true
  ls "$carry" || echo "no $carry: run bench/gpu/prepare_carry.sh before carrying the tree"
}
# libjpeg (data/ decodes JPEGs with it): the machine's own, else the carried one, found
# through the carried .pc file (and a minimal pkg-config where there is none).
if ! { command -v pkg-config >/dev/null && pkg-config --exists libjpeg; } && [[ -d "$carry/libjpeg" ]]; then
  sed -i "s|^prefix=.*|prefix=$carry/libjpeg|" "$carry/libjpeg/pkgconfig/libjpeg.pc"
  export PKG_CONFIG_PATH="$carry/libjpeg/pkgconfig:${PKG_CONFIG_PATH:-}"
  export LD_LIBRARY_PATH="$carry/libjpeg/lib:${LD_LIBRARY_PATH:-}"
  command -v pkg-config >/dev/null || export PATH="$carry/bin:$PATH"
fi
export root OUT carry build python nvcc arch cudnn_root nccl_root
export -f env_report
stage env 60 env_report
grep -E "^nvcc=|^torch" "$OUT/env.log" | sed 's/^/    /' | tee -a "$summary" || true

# ---- 2 configure ---------------------------------------------------------------------------
configure() {
  local args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBIGBATCH_WERROR=OFF
              -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DBIGBATCH_CUDA=ON)
  [[ -n "$cudnn_root" ]] && args+=(-DCUDNN_ROOT="$cudnn_root")
  if [[ -n "$nccl_root" ]]; then args+=(-DNCCL_ROOT="$nccl_root"); else args+=(-DBIGBATCH_NCCL=OFF); fi
  if [[ -f /usr/include/oneapi/dnnl/dnnl.hpp ]]; then args+=(-DBIGBATCH_DNNL=ON); else args+=(-DBIGBATCH_DNNL=OFF); fi
  if [[ -d "$carry" ]]; then
    # Header-only toml++ and nlohmann_json package files; CLI11 and zlib headers; GoogleTest.
    args+=(-DCMAKE_PREFIX_PATH="$carry/cmake" -DCLI11_INCLUDE_DIR="$carry/include")
    if [[ ! -f /usr/include/zlib.h ]]; then
      local libz
      libz="$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 /{print $NF; exit}')"
      args+=(-DZLIB_INCLUDE_DIR="$carry/include" -DZLIB_LIBRARY="${libz:-/lib/x86_64-linux-gnu/libz.so.1}")
    fi
    if [[ ! -f /usr/include/gtest/gtest.h ]]; then args+=(-DBIGBATCH_GTEST_SOURCE_DIR="$carry/googletest"); fi
  fi
  echo "cmake ${args[*]}"
  cmake "${args[@]}"
}
export -f configure
stage configure 120 configure

# ---- 3 build -------------------------------------------------------------------------------
jobs="$(nproc)"
# One invocation (libraries shared, links in parallel); -k: the tests still build if the binary
# cannot (or the other way round).
stage build 360 cmake --build "$build" -j"$jobs" --target backend_cuda_test cuda_executor_test train_test bigbatch -- -k

# ---- 4 tests -------------------------------------------------------------------------------
run_tests() {
  local rc=0 t
  # train_test: only the step's cases (the rest train on the CPU, which needs oneDNN).
  for t in backend_cuda_test cuda_executor_test train_test; do
    local filter='*'
    [[ $t == train_test ]] && filter='TrainStep.TheGpu*:LossScaler.*'
    find "$build" -name "$t" -type f -executable | head -n 1 | {
      read -r exe || { echo "$t was not built"; exit 1; }
      "$exe" --gtest_filter="$filter" --gtest_output="xml:$OUT/$t.xml" --gtest_color=no
    } || rc=1
  done
  return $rc
}
export -f run_tests
stage tests 150 run_tests
grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \]" "$OUT/tests.log" | sed 's/^/    /' | tee -a "$summary" || true

# ---- 4b comm ps on the GPU (the gradients staged through pinned host copies) ----------------
ps_gpu() { "$python" "$root/tests/comm/parameter_server_test.py" gpu "$build/bigbatch" /tmp/bigbatch-ps-gpu; }
export -f ps_gpu
if [[ -x "$build/bigbatch" ]] && command -v mpirun >/dev/null && grep -q '^BIGBATCH_MPI:BOOL=ON' "$build/CMakeCache.txt"; then
  if (( $(left) > 300 )); then stage ps_gpu 120 ps_gpu; else log "ps_gpu skipped: time"; fi
else
  log "ps_gpu skipped: no mpirun here, or a build without MPI"
fi

# ---- 5 bench: ResNet-50, batch 256 ---------------------------------------------------------
bb="$build/bigbatch"
bench_json="$OUT/bench.jsonl"
: >"$bench_json"
bigbatch_bench() {  # PRECISION LAYOUT [STEPS]
  "$bb" bench --device cuda --model resnet50 --batch 256 --precision "$1" --layout "$2" --warmup 3 \
    --steps "${3:-15}" --json | tee -a "$bench_json"
}
torch_bench() {  # PRECISION [--channels-last] [--compile] ...
  "$python" "$root/bench/gpu/torch_step_cuda.py" --batch 256 --precision "$@" | tee -a "$bench_json"
}
inception_bench() {
  "$bb" bench --device cuda --model inception_v3 --batch 64 --precision bf16 --layout nhwc --warmup 2 --steps 8 \
    --json | tee -a "$bench_json"
}
export bb bench_json
export -f bigbatch_bench torch_bench inception_bench
if [[ -x "$bb" ]]; then
  for round in 1 2; do
    (( $(left) > 200 )) || { log "bench round $round skipped: time"; break; }
    stage "bench_bigbatch_bf16_nhwc_$round" 120 bigbatch_bench bf16 nhwc
    stage "bench_torch_bf16_cl_$round" 90 torch_bench bf16 --channels-last
  done
  # Inception-v3 (concat, dropout, the aux head) through the same step, beside ResNet-50.
  if (( $(left) > 200 )); then
    stage bench_bigbatch_inception_v3 90 inception_bench
  else log "inception_v3 bench skipped: time"; fi
  if (( $(left) > 170 )); then stage bench_torch_bf16_cl_compile 150 torch_bench bf16 --channels-last --compile
  else log "torch.compile skipped: time"; fi
  for p in tf32 f32; do
    (( $(left) > 130 )) || { log "bench $p skipped: time"; continue; }
    stage "bench_bigbatch_${p}_nchw" 90 bigbatch_bench "$p" nchw 8
    stage "bench_torch_${p}" 60 torch_bench "$p" --steps 8
  done
  "$python" - "$bench_json" <<'PY' | tee -a "$summary" || true
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
print("    engine            model         precision layout   img/s     ms/step")
for r in rows:
    layout = r.get("layout") or ("channels_last" if r.get("channels_last") else "nchw")
    print(f"    {r['engine']:<17} {r.get('model', 'resnet50'):<13} {r['precision']:<9} {layout:<8} "
          f"{r['img_per_s']:>8.1f} {r['median_ms']:>9.2f}")
PY
else
  log "bench skipped: no $bb"
fi

# ---- 6 time to 92% on Fashion-MNIST (ResNet-20, the default job) -----------------------------
tta() {
  rm -rf "$OUT/tta"
  "$bb" train --config "$root/experiments/fmnist_resnet20.toml" --device cuda \
    --data-dir "$carry/fashion-mnist" --out "$OUT/tta" --progress off
}
export -f tta
if [[ -x "$bb" && -d "$carry/fashion-mnist" ]]; then
  limit=$(left)
  (( limit > 240 )) && limit=240
  if (( limit > 30 )); then
    stage tta "$limit" tta
    "$python" - "$OUT/tta/metrics.jsonl" "$OUT/tta.json" <<'PY' | tee -a "$summary" || true
import json, sys
epochs = [r for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip()) if r.get("kind") == "epoch"]
hit = next((e for e in epochs if e["test_top1_err"] <= 0.08), None)
result = {"epochs": len(epochs), "final_err": epochs[-1]["test_top1_err"] if epochs else None,
          "tta_92_s": hit["wall_s"] if hit else None, "tta_92_epoch": hit["epoch"] if hit else None,
          "total_s": epochs[-1]["wall_s"] if epochs else None}
json.dump(result, open(sys.argv[2], "w"))
print("    tta:", json.dumps(result))
PY
  else
    log "tta skipped: time"
  fi
else
  log "tta skipped: no binary or no carried data set"
fi
log "done in $((SECONDS - start))s"
