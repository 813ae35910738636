#!/usr/bin/env bash
# Stop the daemons `.ci/slurm-up.sh DIR` started, by the pids they wrote under DIR.
set -uo pipefail
DIR=${1:?usage: slurm-down.sh DIR}
for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munged.started"; do
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
done
