#!/usr/bin/env bash
# Slurm on this machine for the tests: Debian's slurmctld + slurmd (and munge) on localhost,
# installed with apt where missing, configured in STATE_DIR, started and stopped here.
#   slurm_service.sh start STATE_DIR   -> writes STATE_DIR/slurm.conf; exit 77 if it cannot run here
#   slurm_service.sh stop STATE_DIR
# Tests then use SLURM_CONF=STATE_DIR/slurm.conf. Needs root (the daemons run as root).
set -euo pipefail
action="$1" state="$(mkdir -p "$2" && cd "$2" && pwd)"
export SLURM_CONF="$state/slurm.conf"

skip() { echo "SKIP: $*"; exit 77; }

if [[ "$action" == stop ]]; then
  # slurmctld and every slurmd it knows; then whatever of ours did not hear it.
  [[ -f "$SLURM_CONF" ]] && timeout 20 scontrol shutdown >/dev/null 2>&1 || true
  for _ in $(seq 20); do
    ps -C slurmctld,slurmd -o stat= | grep -qv '^Z' || exit 0  # zombies of a daemon's children do not count
    sleep 0.5
  done
  pkill -x slurmd || true
  pkill -x slurmctld || true
  exit 0
fi

[[ "$(id -u)" == 0 ]] || skip "Slurm's daemons need root here"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v srun >/dev/null; then
  echo "installing Debian's Slurm (slurmctld slurmd slurm-client munge)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge) \
    > "$state/apt.log" 2>&1 || skip "apt-get could not install Slurm (see $state/apt.log)"
fi
# Open MPI's srun path: Slurm's PMIx plugin (mpi_pmix), which Debian's Open MPI 4.1 speaks.
plugins="$(dirname "$(find /usr/lib -name 'mpi_pmix*.so' -path '*slurm*' -print -quit 2>/dev/null)")"
[[ -n "$plugins" && "$plugins" != . ]] || skip "Slurm has no PMIx plugin (mpi_pmix)"

# munge: Slurm's authentication, with the key the package generated.
if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  munged --force 2>/dev/null || skip "munged would not start"
fi

node_line="$(slurmd -C | head -1)"  # NodeName=<host> CPUs=... as slurmd sees this machine
host="$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node_line")"
mkdir -p "$state/spool" "$state/ctld"
cat > "$SLURM_CONF" <<CONF
ClusterName=bigbatch-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
JobRequeue=1
KillWait=60
ReturnToService=2
$node_line
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
"$0" stop "$state"
sleep 1
slurmctld -c || skip "slurmctld would not start (see $state/slurmctld.log)"
slurmd -c || skip "slurmd would not start (see $state/slurmd.log)"
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)'; then
    echo "Slurm is up: $(sinfo -h -o '%P %D %T %N') ($SLURM_CONF)"
    exit 0
  fi
  sleep 1
done
skip "the Slurm node did not become idle within 60 s (see $state/slurmd.log)"
