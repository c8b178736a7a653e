#!/usr/bin/env bash
# Property-based contract test: schemathesis against the live /openapi.json of `calmdesk serve`.
# Every check on (no 5xx, responses match their declared schema and status codes, ...).
#
#   pip install schemathesis && benchmarks/api_schemathesis.sh      # MAX_EXAMPLES=100 default
set -euo pipefail
cd "$(dirname "$0")/.."
command -v st >/dev/null || { echo "error: schemathesis not installed (pip install schemathesis)" >&2; exit 2; }
MODEL=${MODEL:-$(python -c 'from calmdesk.settings import default_triage_model; print(default_triage_model())')}
MAX_EXAMPLES=${MAX_EXAMPLES:-100}
WORK=$(mktemp -d /tmp/calmdesk-st.XXXXXX)
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KEY=schemathesis-key
OMP_NUM_THREADS=1 CALMDESK_API_KEYS=$KEY python -m calmdesk.cli serve --port "$PORT" \
  --db "sqlite:///$WORK/st.db" --model "$MODEL" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 240); do
  grep -q '"service ready"' "$WORK/server.log" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.5
done
set +e
# Run from the scratch folder: schemathesis keeps its example database in ./.schemathesis.
(cd "$WORK" && st run "http://127.0.0.1:$PORT/openapi.json" --checks all \
  --max-examples "$MAX_EXAMPLES" -H "Authorization: Bearer $KEY" --generation-deterministic \
  --no-color "$@")
status=$?
set -e
echo "# 5xx answers logged by the server: $(grep -c '"status": 5' "$WORK/server.log" || true)"
exit $status
