#!/usr/bin/env bash
# The load scenario of issue 14 (docs/PERFORMANCE.md): gunicorn in the production shape on loopback, 50 locust
# users each making one request every two seconds, logged in with sessions from `manage.py bench_sessions`.
# Usage: DATABASE_URL=postgres://.../optima_bench scripts/load_scenario.sh [seconds] [users]
# Needs a measurement database (never production) and the production settings in the environment
# (DJANGO_DEBUG=false, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS=127.0.0.1, OPTIMA_AHV_KEY, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-90}
USERS=${2:-50}
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
OUT=${OUT:-test-artifacts/load}
mkdir -p "$OUT"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$PY manage.py collectstatic --noinput -v0
# SESSION_USERS=personas: the two heaviest users only (worst case); default: 50 users drawn at random.
if [ "${SESSION_USERS:-sample}" = personas ]; then
  SESSIONS=$($PY manage.py bench_sessions --force | tail -n1)
else
  SESSIONS=$($PY manage.py bench_sessions --force --sample "$USERS" | tail -n1)
fi
"$BIN/gunicorn" optima.wsgi -w "${WORKERS:-4}" -b "127.0.0.1:$PORT" --log-level warning &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/anmelden/" && break; sleep 1; done
OPTIMA_LOAD_SESSIONS="$SESSIONS" "$BIN/locust" -f scripts/locustfile.py --headless -u "$USERS" -r 10 \
  -t "${SECONDS_TO_RUN}s" --host "http://127.0.0.1:$PORT" --csv "$OUT/load" --only-summary --reset-stats \
  2>"$OUT/locust.log" >/dev/null || true
$PY - "$OUT/load_stats.csv" <<'PY'
import csv, sys
rows = {r["Name"]: r for r in csv.DictReader(open(sys.argv[1])) if r["Type"] in ("GET", "POST")}
login = float(rows["login page"]["Median Response Time"])
print("| request | requests | median (ms) | x login (median) | p95 (ms) | p99 (ms) | failures |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    median = float(r["Median Response Time"])
    print(f"| {name} | {r['Request Count']} | {median:.0f} | {median / login:.1f} | {r['95%']} | {r['99%']} | "
          f"{r['Failure Count']} |")
total = next(r for r in csv.DictReader(open(sys.argv[1])) if r["Name"] == "Aggregated")
print(f"| all | {total['Request Count']} | {float(total['Median Response Time']):.0f} | | {total['95%']} | "
      f"{total['99%']} | {total['Failure Count']} |")
PY
