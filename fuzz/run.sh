#!/usr/bin/env bash
# Runs libFuzzer targets of a -DBIGBATCH_FUZZ=ON build (make fuzz): fuzz/run.sh [-t SECONDS] TARGET...
# (TARGET: safetensors idx cifar shards jpeg toml_config; default all, one after another).
# Each keeps a growing corpus in $BUILD/fuzz/corpus/TARGET, starts from the generated seeds,
# writes its log to $BUILD/fuzz/logs/TARGET.log and any finding (crash-*, leak-*, timeout-*,
# oom-*) to $BUILD/fuzz/artifacts/TARGET/. Extra libFuzzer flags: FUZZ_FLAGS="...".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${BUILD:-build-fuzz}
seconds=60
if [[ ${1:-} == -t ]]; then
  seconds=$2
  shift 2
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(safetensors idx cifar shards jpeg toml_config)
out=$BUILD/fuzz
[[ -d $out/seeds ]] || "$out/fuzz_seeds" "$out/seeds" experiments/fmnist_resnet20.toml \
  experiments/fmnist_resnet20_93.toml experiments/sweep/base.toml
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs"
  inputs=("$out/corpus/$t" "$out/seeds/$t")
  [[ -d fuzz/regressions/$t ]] && inputs+=("fuzz/regressions/$t")
  echo "fuzz $t: ${seconds}s, log $out/logs/$t.log"
  # shellcheck disable=SC2086
  "$out/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" ${FUZZ_FLAGS:-} "${inputs[@]}" \
    >"$out/logs/$t.log" 2>&1 || status=1
  tail -n 12 "$out/logs/$t.log" | grep -E '^(stat::|Done|==|SUMMARY)' || true
done
exit $status
