"""The whole test suite: once on SQLite (the embedded default), once on PostgreSQL when it is reachable.

Tests that need Redis or Chromium skip themselves with a reason when those are missing; this script
says so at the end. Extra arguments are passed to pytest (e.g. `-k accept`).
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest"]
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/optima")


def reachable(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def run(label, env_overrides, extra):
    env = {**os.environ, **env_overrides}
    print(f"\n=== Test run: {label} ===", flush=True)
    code = subprocess.call([*PYTEST, *extra], cwd=ROOT, env=env)
    return 0 if code == 5 else code  # 5 = no tests selected by a filter: not a failure


def main():
    extra = sys.argv[1:]
    notes = []
    results = {"SQLite": run("SQLite (embedded default)", {"DATABASE_URL": f"sqlite:///{ROOT / 'test-db.sqlite3'}"},
                             extra)}
    if reachable("127.0.0.1", 5432):
        # Browser and API-fuzz tests do not depend on the database engine: once (on SQLite) is enough.
        results["PostgreSQL"] = run("PostgreSQL", {"DATABASE_URL": POSTGRES_URL},
                                    ["-m", "not browser and not schemathesis", *extra])
    else:
        notes.append("PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL run was SKIPPED.")
    if not reachable("127.0.0.1", 6379):
        notes.append("Redis is not reachable on 127.0.0.1:6379: the real-worker Celery tests were SKIPPED.")
    print("\n=== Summary ===")
    for label, code in results.items():
        print(f"{label}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    for note in notes:
        print(note)
    return max(results.values())


if __name__ == "__main__":
    sys.exit(main())
