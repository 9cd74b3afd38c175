"""Load scenario of issue 14 (docs/PERFORMANCE.md): logged-in users each making one request every two seconds.

Only against a server on loopback, for a bounded time, e.g. with gunicorn started on a free port:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/optima_bench DJANGO_DEBUG=false ... \\
        gunicorn optima.wsgi -w 4 -b 127.0.0.1:$PORT &
    locust -f scripts/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:$PORT --csv /tmp/load

Each user starts at a random moment within the first two seconds and then keeps its own rhythm, so the requests
of a cycle are spread over it as independent people's would be. Locust's ``constant_pacing`` counts from the
moment a user is created, and locust creates them in batches (ten per second with ``-r 10``): every second 20-30
requests left in the same 100 ms, even after a random start, and the queue behind them, not the pages, made
the p95 (OPTIMA_LOAD_IN_STEP=1 measures that way).

Accounts: OPTIMA_LOAD_USERS="user1,user2" (default: the demo's contact persons and coordinator),
password OPTIMA_LOAD_PASSWORD (default: the demo password); or OPTIMA_LOAD_SESSIONS="id1,id2" from
`manage.py bench_sessions` (the coordinator and the busiest contact person, second factor done).
"""

import os
import random
import re
import time
from urllib.parse import urlparse

import gevent
from locust import HttpUser, constant_pacing, task

USERS = os.environ.get("OPTIMA_LOAD_USERS", "iv.kontakt,rav.kontakt,sd.beratung,koordination").split(",")
PASSWORD = os.environ.get("OPTIMA_LOAD_PASSWORD", "optima-demo")
# Or logged-in sessions (comma-separated ids from `manage.py bench_sessions`), e.g. for users with a second factor.
SESSIONS = [s for s in os.environ.get("OPTIMA_LOAD_SESSIONS", "").split(",") if s]
SESSION_COOKIE = os.environ.get("OPTIMA_SESSION_COOKIE", "sessionid")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CASE_LINK = re.compile(r'href="(/faelle/\d+/)"')
PACING = 2  # seconds between two requests of one user
IN_STEP = os.environ.get("OPTIMA_LOAD_IN_STEP") == "1"


def _refuse_remote(host):
    if urlparse(host).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("The load scenario only runs against a server on loopback.")


def _start_at_a_random_moment():
    if not IN_STEP:
        gevent.sleep(random.uniform(0, PACING))


class Visitor(HttpUser):
    """One person: a request every PACING seconds, starting at a random moment."""

    abstract = True

    def on_start(self):
        _refuse_remote(self.host)
        _start_at_a_random_moment()
        self.next_request_at = time.perf_counter()

    def wait_time(self):
        """One request every PACING seconds from this user's own start (see the module's docstring)."""
        if IN_STEP:
            return self._in_step()
        # After a stall, no catch-up burst of the missed requests: the rhythm goes on from now.
        self.next_request_at = max(self.next_request_at + PACING, time.perf_counter())
        return max(0.0, self.next_request_at - time.perf_counter())

    _in_step = constant_pacing(PACING)


class Anonymous(Visitor):
    """The baseline: the login page, the cheapest page there is."""

    weight = 1

    @task
    def login_page(self):
        self.client.get("/anmelden/", name="login page")


class CaseWorker(Visitor):
    """A logged-in user going through start page, lists, a case and the API list."""

    weight = 4

    def on_start(self):
        super().on_start()
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
        listing = self.logged_in_get("/faelle/", "referral list")
        self.cases = CASE_LINK.findall(listing.text)[:20] or ["/"]

    def logged_in_get(self, path, name):
        """A page as the logged-in user: anything but a 200 (a redirect to the log-in page is cheap) fails."""
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} instead of the page (session not accepted?)")
        return response

    @task(3)
    def start_page(self):
        self.logged_in_get("/", "start page")

    @task(2)
    def referral_list(self):
        self.logged_in_get("/faelle/", "referral list")

    @task(2)
    def case_page(self):
        self.logged_in_get(random.choice(self.cases), "case page")

    @task(2)
    def api_list(self):
        self.logged_in_get("/api/v1/referrals/", "API list")
