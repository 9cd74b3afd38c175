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
# The access log keeps each request's own server time (%(D)s, microseconds): what the server spent, apart from
# the time a request waited for a free worker and the load generator's own delays.
rm -f "$OUT/access.log"
"$BIN/gunicorn" optima.wsgi -w "${WORKERS:-4}" -b "127.0.0.1:$PORT" --log-level warning \
  --access-logfile "$OUT/access.log" --access-logformat '%(m)s %(U)s %(s)s %(D)s' &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/anmelden/" && break; sleep 1; done
OPTIMA_LOAD_SESSIONS="$SESSIONS" "$BIN/locust" -f scripts/locustfile.py --headless -u "$USERS" -r 10 \
  -t "${SECONDS_TO_RUN}s" --host "http://127.0.0.1:$PORT" --csv "$OUT/load" --only-summary --reset-stats \
  2>"$OUT/locust.log" >/dev/null || true
kill $GUNICORN 2>/dev/null && wait $GUNICORN 2>/dev/null || true  # flushes the access log
$PY - "$OUT/load_stats.csv" "$OUT/access.log" <<'PY'
import csv, re, statistics, sys
rows = {r["Name"]: r for r in csv.DictReader(open(sys.argv[1])) if r["Type"] in ("GET", "POST")}
login = float(rows["login page"]["Median Response Time"])
# Server time per request from gunicorn's access log, by the same names as locust's.
NAMES = [("login page", r"/anmelden/$"), ("start page", r"/$"), ("referral list", r"/faelle/$"),
         ("case page", r"/faelle/\d+/$"), ("API list", r"/api/v1/referrals/$")]
server = {}
for line in open(sys.argv[2]):
    method, path, status, micros = line.split()
    if method != "GET" or status != "200":  # the log-in POST, redirects and errors are not the pages measured
        continue
    name = next((n for n, pattern in NAMES if re.match(pattern, path)), None)
    if name:
        server.setdefault(name, []).append(int(micros) / 1000)
every = sorted(ms for values in server.values() for ms in values)


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.95))] if values else 0


print("| request | requests | median (ms) | x login (median) | p95 (ms) | p99 (ms) | failures "
      "| server median (ms) | server p95 (ms) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in rows.items():
    median, own = float(r["Median Response Time"]), server.get(name, [0])
    print(f"| {name} | {r['Request Count']} | {median:.0f} | {median / login:.1f} | {r['95%']} | {r['99%']} | "
          f"{r['Failure Count']} | {statistics.median(own):.0f} | {p95(own):.0f} |")
total = next(r for r in csv.DictReader(open(sys.argv[1])) if r["Name"] == "Aggregated")
print(f"| all | {total['Request Count']} | {float(total['Median Response Time']):.0f} | | {total['95%']} | "
      f"{total['99%']} | {total['Failure Count']} | {statistics.median(every or [0]):.0f} | {p95(every):.0f} |")
PY
