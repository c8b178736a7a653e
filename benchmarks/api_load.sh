#!/usr/bin/env bash
# HTTP load figures for the API: wrk against `calmdesk serve` on loopback.
#
#   benchmarks/api_load.sh                      # default model, 2 workers, 30 s per run
#   DURATION=10 MODEL=/path/to/model benchmarks/api_load.sh
#   COMPLAINTS=../shared/datasets/complaints/dev.jsonl benchmarks/api_load.sh   # real texts
#
# With COMPLAINTS (a JSONL file with a "text" field), /v1/triage is sent those complaints in
# rotation (written into a temporary wrk script, never into the project) instead of the four
# short built-in ones: the figure a desk with complaint-length texts would see.
#
# Prints one line per run: concurrency, requests/s, p50/p90/p99 latency, non-2xx answers and
# socket errors, then the server's memory (RSS of the master and each worker).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
WORKERS=${WORKERS:-2}
MODEL=${MODEL:-$(python -c 'from calmdesk.settings import default_triage_model; print(default_triage_model())')}
CONCURRENCY=${CONCURRENCY-"1 16 64"}
COACH_CONCURRENCY=${COACH_CONCURRENCY-"1 16"}
command -v wrk >/dev/null || { echo "error: wrk not found (apt-get install -y wrk)" >&2; exit 2; }
[ -d "$MODEL" ] || { echo "error: no triage model at $MODEL (set MODEL=DIR)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/calmdesk-load.XXXXXX)
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export OMP_NUM_THREADS=1
python -m calmdesk.cli serve --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" \
  --db "sqlite:///$WORK/load.db" --model "$MODEL" >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Ready = every worker has loaded its models (each logs "service ready").
for _ in $(seq 1 240); do
  [ "$(grep -c '"service ready"' "$WORK/server.log" || true)" -ge "$WORKERS" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || echo "note: /readyz is not 200 (see /readyz checks)" >&2

URL="http://127.0.0.1:$PORT"
echo "# calmdesk API load: $WORKERS workers, ${DURATION}s per run, model $(basename "$MODEL"), $(getconf _NPROCESSORS_ONLN) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
TICK=$(getconf CLK_TCK)
server_cpu_ticks() {  # user+system CPU of the server's master and workers so far
  local total=0 pid
  for pid in $SERVER $(pgrep -P "$SERVER" || true); do
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}
run() {  # endpoint script concurrency
  local threads=$(( $3 < 2 ? 1 : 2 ))
  local line before after requests
  before=$(server_cpu_ticks)
  local script=$2
  [ -f "$script" ] || script="benchmarks/$2"
  line=$(wrk -t"$threads" -c"$3" -d"${DURATION}s" --timeout 10s -s "$script" "$URL" | grep '^RESULT')
  after=$(server_cpu_ticks)
  requests=$(echo "$line" | sed -E 's/.*requests=([0-9]+).*/\1/')
  # Server CPU per request: what the throughput would be on dedicated cores, whatever else runs.
  echo "$1 c=$3 ${line#RESULT } server_cpu_ms_per_request=$(awk -v t=$(( after - before )) -v n="$requests" -v k="$TICK" 'BEGIN {printf "%.2f", n ? t * 1000 / k / n : 0}')"
}
TRIAGE_SCRIPT=api_triage.lua
TRIAGE_NAME="POST /v1/triage"
if [ -n "${COMPLAINTS:-}" ]; then
  [ -f "$COMPLAINTS" ] || { echo "error: COMPLAINTS=$COMPLAINTS is not a file" >&2; exit 2; }
  python - "$COMPLAINTS" "$WORK/triage_texts.lua" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
bodies = [json.dumps({"text": r["text"][:4000]}, ensure_ascii=False) for r in rows if r.get("text")]
lua = open("benchmarks/api_triage.lua", encoding="utf-8").read()
start, end = lua.index("local bodies = {"), lua.index("}\n", lua.index("local bodies = {")) + 2
quoted = ",\n".join("  [==[" + b + "]==]" for b in bodies)
open(sys.argv[2], "w", encoding="utf-8").write(lua[:start] + "local bodies = {\n" + quoted + "\n}\n" + lua[end:])
PY
  TRIAGE_SCRIPT="$WORK/triage_texts.lua"
  TRIAGE_NAME="POST /v1/triage ($(basename "$COMPLAINTS"), mean $(python -c "import json,sys; t=[len(json.loads(l)['text']) for l in open(sys.argv[1]) if l.strip()]; print(sum(t)//len(t))" "$COMPLAINTS") chars)"
fi
for c in $CONCURRENCY; do run "$TRIAGE_NAME" "$TRIAGE_SCRIPT" "$c"; done
for c in $COACH_CONCURRENCY; do run "POST /v1/coach (40 turns)" api_coach.lua "$c"; done

echo "# server memory (RSS, MiB)"
for pid in $SERVER $(pgrep -P "$SERVER" || true); do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  echo "pid $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60): $((rss / 1024)) MiB"
done
echo "# tickets stored: $(python -c "import sqlite3; print(sqlite3.connect('$WORK/load.db').execute('select count(*) from tickets').fetchone()[0])")"
