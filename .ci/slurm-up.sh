#!/usr/bin/env bash
# A one-node Slurm on this host for the `slurm` tests: `.ci/slurm-up.sh DIR` installs Debian's
# slurm-wlm and munge when missing, writes DIR/slurm.conf (state, spool, logs and pid files all under
# DIR), starts munged, slurmctld and slurmd, and waits until the node is idle.
# `source DIR/env` then points sbatch/squeue/sacct at it; `.ci/slurm-down.sh DIR` stops what this
# started (by pid). Everything listens on 127.0.0.1 only.
#
# Without slurmdbd, `sacct` cannot read accounting; `JobCompType=jobcomp/filetxt` keeps a line per
# finished job that `sacct --completion` reads, and `MinJobAge` keeps finished jobs in
# `scontrol show job` for an hour (abyssexp reads whichever answers).
set -euo pipefail
DIR=$(mkdir -p "${1:?usage: slurm-up.sh DIR}" && cd "$1" && pwd)
chmod 755 "$DIR"  # munged runs as the munge user and writes its pid file under DIR
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi
HOST=$(hostname -s)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
CPUS=${SLURM_CI_CPUS:-2}
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge"
chown munge:munge "$DIR/munge" 2>/dev/null || true
cat > "$DIR/slurm.conf" <<CONF
ClusterName=abyssexp-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# Requeued jobs wait cred_expire seconds before they may start again (120 by default).
AuthInfo=cred_expire=10
CredType=cred/munge
SlurmctldPort=${SLURM_CI_PORT:-6817}
SlurmdPort=$(( ${SLURM_CI_PORT:-6817} + 1 ))
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
AccountingStorageType=accounting_storage/none
MinJobAge=3600
KillWait=30
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "export SLURM_CONF=$DIR/slurm.conf" > "$DIR/env"
export SLURM_CONF=$DIR/slurm.conf

# munge: this host's key (created when missing), a socket of our own.
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
  else create-munge-key; fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
fi
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --pid-file="$DIR/munge/munged.pid" 2>"$DIR/munged.log" \
      || /usr/sbin/munged --force --pid-file="$DIR/munge/munged.pid"
  else
    /usr/sbin/munged --force --pid-file="$DIR/munge/munged.pid"
  fi
  cp "$DIR/munge/munged.pid" "$DIR/munged.started"  # ours to stop
fi

slurmctld -f "$DIR/slurm.conf" -i
slurmd -f "$DIR/slurm.conf"
for _ in $(seq 1 120); do
  if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
    echo "slurm up: $SLURM_CONF (node $HOST, $CPUS CPUs, $MEM_MB MB)"
    exit 0
  fi
  sleep 0.5
done
echo "slurm did not come up; see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
sinfo -N -l >&2 || true
exit 1
