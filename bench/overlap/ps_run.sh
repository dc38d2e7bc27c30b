#!/usr/bin/env bash
# Ring allreduce vs parameter servers on emulated machines, each rank with a NIC of its own.
#
#   bench/overlap/ps_run.sh [--build DIR] [--steps 4] [--warmup 1] [--rates "1gbit 10gbit"]
#                           [--workers "2 4"] [--profiles "FILE ..."] [--bucket-mib 25] [--out DIR]
#
# Needs root (network namespaces, tc), iproute2 and Open MPI. What it does:
#  1. Makes one network namespace per rank, each with an eth0 (a veth) plugged into a bridge in
#     a "switch" namespace, so every rank is a machine with one full-duplex NIC: eth0's egress
#     shaped at the rate is the NIC's out direction, the bridge port's egress its in direction
#     (htb, as bench/overlap/run.sh shapes). mpirun runs in the switch namespace and starts each
#     rank in its own (`ip netns exec`); MPI is TCP over the NICs (pml ob1, btl tcp,self, TCP's
#     put protocol off as in run.sh, so that both directions of a link carry data at once; PMIx
#     and the launcher's own traffic go over the bridge too).
#  2. For every profile (a recorded per-layer backward, bench/overlap/*.profile), rate and W in
#     --workers, runs `overlap_bench replay` three ways: the ring allreduce over W ranks,
#     parameter servers with S = 1 (W+1 ranks: one server link for all) and with S = W dedicated
#     server links (2W ranks), the update on the workers (the servers sum: the bytes are those
#     of either placement). Every rank sleeps through the replayed backward, so the cores are
#     the network's.
#  3. Counts the bytes every NIC carried (ip -s link: eth0's tx = out, rx = in) and prints, per
#     step, the busiest NIC's bytes next to the model's N: the bandwidth argument (ring: each
#     NIC 2(W-1)/W·N each way; PS: a worker N each way, a server W·N/S).
# The namespaces are deleted on exit, whatever happens.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
steps=4 warmup=1 rates="1gbit 10gbit" workers="2 4" bucket_mib=25 out=""
profiles="$here/resnet50_b8.profile"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --profiles) profiles="$2"; shift 2 ;;
    --bucket-mib) bucket_mib="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ps_run.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$(id -u)" -eq 0 ]] || { echo "ps_run.sh: error: needs root (ip netns, tc)" >&2; exit 1; }
for tool in ip tc mpirun; do
  command -v "$tool" >/dev/null || { echo "ps_run.sh: error: $tool missing (iproute2, openmpi-bin)" >&2; exit 1; }
done
bench="$build/bench/overlap_bench"
[[ -x "$bench" ]] || { echo "ps_run.sh: error: $bench missing: cmake --build $build --target overlap_bench" >&2; exit 1; }
for p in $profiles; do [[ -f "$p" ]] || { echo "ps_run.sh: error: no profile $p" >&2; exit 1; }; done
out="${out:-$repo/runs/ps-overlap-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"

tag="bp$$"
most=0
for w in $workers; do (( 2 * w > most )) && most=$((2 * w)); done
sw="${tag}sw"
cleanup() {
  for r in $(seq 0 $((most - 1))); do ip netns del "$tag$r" 2>/dev/null || true; done
  ip netns del "$sw" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The machines and their switch.
ip netns add "$sw"
ip -n "$sw" link set lo up
ip -n "$sw" link add br0 type bridge
ip -n "$sw" addr add 10.77.0.254/24 dev br0
ip -n "$sw" link set br0 up
for r in $(seq 0 $((most - 1))); do
  ip netns add "$tag$r"
  ip -n "$tag$r" link set lo up
  ip link add "${tag}v$r" type veth peer name "${tag}p$r"
  ip link set "${tag}v$r" netns "$tag$r"
  ip link set "${tag}p$r" netns "$sw"
  ip -n "$tag$r" link set "${tag}v$r" name eth0
  ip -n "$tag$r" addr add "10.77.0.$((r + 1))/24" dev eth0
  ip -n "$tag$r" link set eth0 up
  ip -n "$sw" link set "${tag}p$r" master br0
  ip -n "$sw" link set "${tag}p$r" up
done

shape() {  # shape RATE: every NIC, both directions
  local rate="$1" r
  for r in $(seq 0 $((most - 1))); do
    for dev in "$tag$r eth0" "$sw ${tag}p$r"; do
      set -- $dev
      ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null || true
      ip netns exec "$1" tc qdisc add dev "$2" root handle 1: htb default 10
      ip netns exec "$1" tc class add dev "$2" parent 1: classid 1:10 htb rate "$rate" ceil "$rate" burst 256k \
        cburst 256k quantum 200000
    done
  done
}
nic_bytes() {  # "tx rx" of rank r's eth0
  ip -n "$tag$1" -s link show eth0 | awk '/RX:/ {getline; rx=$1} /TX:/ {getline; tx=$1} END {print tx, rx}'
}

mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none
     --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include eth0 --mca btl_tcp_disable_family 6
     --mca oob_tcp_if_include br0,eth0
     --mca btl_tcp_flags send,inplace,need-ack,need-csum,hetero-rdma  # no put: see run.sh, --mpi-put
     --mca btl_tcp_eager_limit 1114112)
export PMIX_MCA_ptl_tcp_if_include=br0 PMIX_MCA_ptl_tcp_disable_ipv6_family=1

run_one() {  # run_one RANKS -- overlap_bench args...: prints its JSON line, then the NICs' bytes
  local ranks="$1" r app="$out/app.txt"
  shift
  : > "$app"
  for r in $(seq 0 $((ranks - 1))); do
    echo "-np 1 ip netns exec $tag$r $bench $*" >> "$app"
  done
  local before=() after=()
  for r in $(seq 0 $((ranks - 1))); do before+=("$(nic_bytes "$r")"); done
  local line
  line="$(ip netns exec "$sw" "${mpi[@]}" --app "$app")"
  for r in $(seq 0 $((ranks - 1))); do after+=("$(nic_bytes "$r")"); done
  local bytes=""
  for r in $(seq 0 $((ranks - 1))); do
    read -r tx0 rx0 <<< "${before[$r]}"
    read -r tx1 rx1 <<< "${after[$r]}"
    bytes+="${bytes:+,}[$((tx1 - tx0)),$((rx1 - rx0))]"
  done
  echo "$line" | sed "s/}\$/,\"nic_tx_rx\":[$bytes]}/"
}

echo "ps_run: each rank its own namespace and NIC; $steps timed steps (+$warmup); bucket cap $bucket_mib MiB"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for rate in $rates; do
  shape "$rate"
  for prof in $profiles; do
    for w in $workers; do
      args=(replay --profile "$prof" --bucket-mib "$bucket_mib" --steps "$steps" --warmup "$warmup" --solo 0 --json)
      for setup in "ring $w" "ps1 $((w + 1))" "psW $((2 * w))"; do
        set -- $setup
        case "$1" in
          ring) extra=() ;;
          ps1) extra=(--comm ps --servers 1) ;;
          psW) extra=(--comm ps --servers "$w") ;;
        esac
        line="$(run_one "$2" "${args[@]}" "${extra[@]}")"
        echo "{\"rate\":\"$rate\",\"setup\":\"$1\",\"workers\":$w,\"profile\":\"$(basename "$prof")\",$(echo "$line" | sed 's/^{//')" \
          >> "$results"
        echo "$rate $(basename "$prof") W=$w $1: $line"
      done
    done
  done
done
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$results" "$((steps + warmup))" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
total_steps = int(sys.argv[2])
print()
print("| network | model | W | setup | step ms | exposed ms | busiest NIC MB/step (out, in) | model N MB | "
      "expected busiest MB (one way) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    n = r["params_mb"]
    w = r["workers"]
    setup = {"ring": "ring allreduce", "ps1": "PS, S = 1", "psW": "PS, S = W"}[r["setup"]]
    expect = {"ring": 2 * (w - 1) / w * n, "ps1": w * n, "psW": n}[r["setup"]]
    steps = total_steps + (1 if r["setup"] == "ring" else 0)  # the ring's untimed first allreduce
    out_mb = max(tx for tx, _ in r["nic_tx_rx"]) / 1e6 / steps
    in_mb = max(rx for _, rx in r["nic_tx_rx"]) / 1e6 / steps
    print(f"| {r['rate']} | {r['model']} | {w} | {setup} | {1e3 * r['step_s']:.0f} | {1e3 * r['exposed_s']:.0f} | "
          f"{out_mb:.0f}, {in_mb:.0f} | {n:.0f} | {expect:.0f} |")
print("\nbusiest NIC: bytes over every step run (warm-up included; the ring's untimed first allreduce too; "
      "the key table and set-up messages included) / those steps")
EOF
echo "raw: $results"
