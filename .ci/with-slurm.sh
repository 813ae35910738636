#!/usr/bin/env bash
# `.ci/with-slurm.sh CMD...`: start a one-node Slurm in a temporary folder (.ci/slurm-up.sh), run
# CMD with SLURM_CONF pointing at it, and stop the daemons again whatever CMD did.
set -euo pipefail
DIR=$(mktemp -d "${TMPDIR:-/tmp}/abyssexp-slurm.XXXXXX")
stop() {
  "$(dirname "$0")/slurm-down.sh" "$DIR"
  rm -rf "$DIR"
}
trap stop EXIT
"$(dirname "$0")/slurm-up.sh" "$DIR"
export SLURM_CONF="$DIR/slurm.conf"
"$@"
