#!/usr/bin/env bash
# Overlap of the gradient allreduce with backward, 2 MPI ranks over an emulated network.
#
#   bench/overlap/run.sh [--build DIR] [--reps 3] [--steps 6] [--warmup 1] [--batches "2 8"]
#                        [--rates "10gbit 1gbit"] [--bucket-mib 25] [--profile-threads 1]
#                        [--profiles DIR] [--real] [--mpi-put] [--mca "KEY VALUE ..."] [--out DIR]
#
# Needs root (network namespaces, tc), iproute2 and Open MPI. What it does:
#  1. Profiles resnet50's real backward on this machine, once per batch in --batches (the CPU
#     executor, --profile-threads threads, no MPI): when each layer's gradients become final.
#     --profiles DIR reuses profiles already measured (DIR/resnet50_b<B>.profile).
#  2. Creates a network namespace of its own whose loopback is the only interface, and shapes
#     it with htb: one class per direction of the ranks' TCP connection (told apart by
#     Open MPI's listening ports: toward a listener / from a listener), each capped at the
#     rate, so the link is full duplex like a real NIC. (A veth pair with both ends in one
#     namespace would carry nothing: the kernel delivers traffic between two local addresses
#     over the loopback, so shaping the veth would shape nothing.)
#  3. Runs `mpirun -np 2 overlap_bench replay` inside the namespace with MPI forced onto TCP
#     over that loopback (pml ob1, btl tcp,self: no shared memory/vader, no UCX; IPv4 only),
#     overlap on and off, for every rate and profile, --reps times, alternating. --rates may
#     include "none" (loopback unshaped: what this machine's CPUs sustain). --real adds runs
#     whose ranks compute the real backward (batch 2, 1 thread each) instead of replaying it.
#     Open MPI's TCP "put" protocol is turned off (btl_tcp_flags without put) unless --mpi-put:
#     with it, a large message waits for a control message from its receiver that queues
#     behind the receiver's own bulk data, so the two directions of a 2-rank allreduce take
#     turns instead of sharing the full-duplex link (up to 2x slower; bench/RESULTS.md).
#     --mca adds Open MPI parameters, e.g. --mca "coll_tuned_use_dynamic_rules 1
#     coll_tuned_allreduce_algorithm 4".
#  4. Prints the medians over the repetitions and checks the shaping (bytes per class).
# The namespace is deleted on exit, whatever happens.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build-dist"
reps=3 steps=6 warmup=1 batches="2 8" rates="10gbit 1gbit" bucket_mib=25 profile_threads=1
profiles="" real=0 put=0 mca_extra="" out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --bucket-mib) bucket_mib="$2"; shift 2 ;;
    --profile-threads) profile_threads="$2"; shift 2 ;;
    --profiles) profiles="$(cd "$2" && pwd)"; shift 2 ;;
    --real) real=1; shift ;;
    --mpi-put) put=1; shift ;;
    --mca) mca_extra="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$(id -u)" -eq 0 ]] || { echo "run.sh: needs root (ip netns, tc)" >&2; exit 1; }
for tool in ip tc mpirun; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool missing (scripts/install-deps: iproute2, openmpi-bin)" >&2; exit 1; }
done
bench="$build/bench/overlap_bench"
[[ -x "$bench" ]] || { echo "run.sh: $bench missing: cmake --build $build --target overlap_bench" >&2; exit 1; }
out="${out:-$repo/runs/overlap-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"

ns="bbov$$"
port=50000  # Open MPI's btl tcp listens on [port, port+16): 16-aligned for the u32 masks below
cleanup() {
  local pids
  pids="$(ip netns pids "$ns" 2>/dev/null || true)"
  [[ -n "$pids" ]] && kill $pids 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { ip netns exec "$ns" "$@"; }

# 1. Profiles.
for b in $batches; do
  prof="$out/resnet50_b$b.profile"
  if [[ -n "$profiles" ]]; then
    cp "$profiles/resnet50_b$b.profile" "$prof"
  else
    OMP_NUM_THREADS=$profile_threads "$bench" profile --model resnet50 --batch "$b" --threads "$profile_threads" \
      --steps 5 --out "$prof"
  fi
done

# 2. The namespace and its shaped loopback.
ip netns add "$ns"
nsx ip link set lo up
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
shape() {  # shape RATE ("none": unshaped, but counted by class all the same)
  local rate="$1"
  nsx tc qdisc del dev lo root 2>/dev/null || true
  [[ "$rate" == none ]] && rate=1000gbit
  nsx tc qdisc add dev lo root handle 1: htb default 30
  for c in 10 20; do
    nsx tc class add dev lo parent 1: classid 1:$c htb rate "$rate" ceil "$rate" burst 256k cburst 256k quantum 200000
  done
  nsx tc class add dev lo parent 1: classid 1:30 htb rate 100gbit ceil 100gbit quantum 200000
  nsx tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff match ip dport $port 0xfff0 flowid 1:10
  nsx tc filter add dev lo parent 1: protocol ip prio 2 u32 match ip protocol 6 0xff match ip sport $port 0xfff0 flowid 1:20
}
class_bytes() {  # bytes sent per class: "toward-listener from-listener other"
  nsx tc -s class show dev lo | awk '/^class htb/ {c=$3} /Sent/ {b[c]=$2} END {printf "%s %s %s", b["1:10"], b["1:20"], b["1:30"]}'
}

mpi=(mpirun --allow-run-as-root --oversubscribe -np 2 --bind-to none
     --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo --mca btl_tcp_disable_family 6
     --mca btl_tcp_port_min_v4 $port --mca btl_tcp_port_range_v4 16 --mca oob_tcp_if_include lo)
[[ $put -eq 1 ]] || mpi+=(--mca btl_tcp_flags send,inplace,need-ack,need-csum,hetero-rdma)
set -- $mca_extra
while [[ $# -ge 2 ]]; do mpi+=(--mca "$1" "$2"); shift 2; done

echo "overlap: resnet50, 2 ranks in netns $ns, reps $reps, $steps timed steps (+$warmup), bucket cap $bucket_mib MiB"
echo "mpi: ${mpi[*]}"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq 1 "$reps"); do
  for rate in $rates; do
    shape "$rate"
    for b in $batches; do
      for ov in on off; do
        line="$(nsx "${mpi[@]}" "$bench" replay --profile "$out/resnet50_b$b.profile" --bucket-mib "$bucket_mib" \
                  --overlap "$ov" --steps "$steps" --warmup "$warmup" --json)"
        echo "{\"rep\":$rep,\"rate\":\"$rate\",\"backward\":\"replay b$b\",$(echo "$line" | sed 's/^{//')" >> "$results"
        echo "rep $rep $rate replay b$b overlap $ov: $line"
      done
    done
    if [[ $real -eq 1 ]]; then
      for ov in on off; do
        line="$(nsx "${mpi[@]}" -x OMP_NUM_THREADS=1 "$bench" real --batch 2 --threads 1 --bucket-mib "$bucket_mib" \
                  --overlap "$ov" --steps "$steps" --warmup "$warmup" --json)"
        echo "{\"rep\":$rep,\"rate\":\"$rate\",\"backward\":\"real b2\",$(echo "$line" | sed 's/^{//')" >> "$results"
        echo "rep $rep $rate real b2 overlap $ov: $line"
      done
    fi
    read -r to from other <<< "$(class_bytes)"
    echo "rep $rep $rate shaping check: toward listener $to B, from listener $from B, unshaped $other B" | tee -a "$out/shaping.txt"
  done
done
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# 4. Medians over the repetitions.
/usr/bin/python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["rate"], r["backward"], r["overlap"]), []).append(r)
med = lambda rs, k: statistics.median(r[k] for r in rs)
print()
print(f"| network | backward (profile) | overlap | solo allreduce ms | backward ms | allreduce ms | exposed ms | exposed / allreduce | step ms | target |")
print(f"|---|---|---|---|---|---|---|---|---|---|")
for (rate, bwd, ov), rs in groups.items():
    b, a, e, s, solo = (1e3 * med(rs, k) for k in ("backward_s", "allreduce_s", "exposed_s", "step_s", "solo_allreduce_s"))
    ratio = e / a if a else 0
    if not ov:
        target = "-"
    elif a <= b:
        target = "met" if ratio <= 0.25 else "MISSED"
    else:
        target = "n/a (allreduce > backward)"
    print(f"| {rate} | {bwd} | {'on' if ov else 'off'} | {solo:.0f} | {b:.0f} | {a:.0f} | {e:.0f} | {100*ratio:.0f}% | {s:.0f} | {target} |")
r = rows[0]
print(f"\n{r['model']}: {r['params_mb']:.1f} MB of gradients in {r['buckets']} buckets (cap {r['bucket_mib']} MiB, "
      f"last {r['last_bucket_mb']:.1f} MB); medians of {len(rows) // max(1, len(groups))} runs x {r['steps']} steps")
EOF
echo "raw: $results"
