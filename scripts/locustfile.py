"""Load scenario of issue 14 (docs/PERFORMANCE.md): logged-in users each making one request every two seconds.

Only against a server on loopback, for a bounded time, e.g. with gunicorn started on a free port:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/optima_bench DJANGO_DEBUG=false ... \\
        gunicorn optima.wsgi -w 4 -b 127.0.0.1:$PORT &
    locust -f scripts/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:$PORT --csv /tmp/load

Accounts: OPTIMA_LOAD_USERS="user1,user2" (default: the demo's contact persons and coordinator),
password OPTIMA_LOAD_PASSWORD (default: the demo password); or OPTIMA_LOAD_SESSIONS="id1,id2" from
`manage.py bench_sessions` (the coordinator and the busiest contact person, second factor done).
"""

import os
import random
import re
from urllib.parse import urlparse

from locust import HttpUser, constant_pacing, task

USERS = os.environ.get("OPTIMA_LOAD_USERS", "iv.kontakt,rav.kontakt,sd.beratung,koordination").split(",")
PASSWORD = os.environ.get("OPTIMA_LOAD_PASSWORD", "optima-demo")
# Or logged-in sessions (comma-separated ids from `manage.py bench_sessions`), e.g. for users with a second factor.
SESSIONS = [s for s in os.environ.get("OPTIMA_LOAD_SESSIONS", "").split(",") if s]
SESSION_COOKIE = os.environ.get("OPTIMA_SESSION_COOKIE", "sessionid")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CASE_LINK = re.compile(r'href="(/faelle/\d+/)"')


def _refuse_remote(host):
    if urlparse(host).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("The load scenario only runs against a server on loopback.")


class Anonymous(HttpUser):
    """The baseline: the login page, the cheapest page there is."""

    weight = 1
    wait_time = constant_pacing(2)

    def on_start(self):
        _refuse_remote(self.host)

    @task
    def login_page(self):
        self.client.get("/anmelden/", name="login page")


class CaseWorker(HttpUser):
    """A logged-in user going through start page, lists, a case and the API list."""

    weight = 4
    wait_time = constant_pacing(2)

    def on_start(self):
        _refuse_remote(self.host)
        if SESSIONS:
            # Sessions made by `manage.py bench_sessions`: the steady state is measured, not 40 PBKDF2 log-ins.
            self.client.cookies.set(SESSION_COOKIE, random.choice(SESSIONS))
        else:
            username = random.choice(USERS)
            page = self.client.get("/anmelden/", name="login page")
            token = CSRF.search(page.text).group(1)
            self.client.post("/anmelden/", {"username": username, "password": PASSWORD,
                                            "csrfmiddlewaretoken": token},
                             headers={"Referer": self.host + "/anmelden/"}, name="log in")
        listing = self.client.get("/faelle/", name="referral list")
        self.cases = CASE_LINK.findall(listing.text)[:20] or ["/"]

    @task(3)
    def start_page(self):
        self.client.get("/", name="start page")

    @task(2)
    def referral_list(self):
        self.client.get("/faelle/", name="referral list")

    @task(2)
    def case_page(self):
        self.client.get(random.choice(self.cases), name="case page")

    @task(2)
    def api_list(self):
        self.client.get("/api/v1/referrals/", name="API list")
