#!/usr/bin/env bash
# `.ci/with-mlflow.sh VENV PORT CMD...`: start `mlflow server` from VENV on 127.0.0.1:PORT with a
# sqlite backend in a temporary folder, run CMD with ABYSSEXP_MLFLOW_TEST_URI pointing at it, and
# stop the server by its process group whatever CMD did.
set -euo pipefail
VENV=$1
PORT=$2
shift 2
DIR=$(mktemp -d "${TMPDIR:-/tmp}/abyssexp-mlflow.XXXXXX")
PID=
stop() {
  if [ -n "$PID" ]; then
    kill -- "-$PID" 2>/dev/null || kill "$PID" 2>/dev/null || true
    # MLflow's server normally exits at once; past 10 s it is killed outright.
    for _ in $(seq 1 10); do
      kill -0 "$PID" 2>/dev/null || break
      sleep 1
    done
    kill -9 -- "-$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap stop EXIT
setsid "$VENV/bin/mlflow" server --host 127.0.0.1 --port "$PORT" \
  --backend-store-uri "sqlite:///$DIR/mlflow.db" --default-artifact-root "$DIR/artifacts" \
  --workers 1 >"$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 120); do
  if "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$PID" 2>/dev/null; then
    cat "$DIR/server.log" >&2
    exit 1
  fi
  sleep 1
done
export ABYSSEXP_MLFLOW_TEST_URI="http://127.0.0.1:$PORT"
"$@"
