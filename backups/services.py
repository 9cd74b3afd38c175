"""Back up and restore the database and the documents together, as one archive.

An archive (``optima-backup-YYYYmmdd-HHMMSS.tar.gz``) holds:

- ``manifest.json``: when, which database engine, how many referrals/documents, and a fingerprint of the
  ``OPTIMA_AHV_KEY`` it was made with (an HMAC of a fixed text: it identifies the key without revealing it);
- ``database.dump`` (PostgreSQL, ``pg_dump --format=custom``) or ``database.sqlite3`` (a consistent copy made
  with SQLite's backup API);
- ``media/``: the uploaded documents, with their stored names.

The AHV numbers in the dump are encrypted with ``OPTIMA_AHV_KEY``, which is *not* in the archive. Without that
key a restored database has no readable AHV numbers: keep the key in a separate, safe place. ``restore`` refuses
an archive made with another key unless told otherwise, and checks the restored data with the key canary.
"""

import datetime
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext as _

from referrals.checks import ahv_key_problem
from referrals.models import Document, Referral

FORMAT_VERSION = 1
POSTGRES = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"


class BackupError(Exception):
    """The backup or restore cannot go ahead; the message says why and what to do."""


def ahv_key_fingerprint(key=None):
    key = (key or settings.AHV_ENCRYPTION_KEY).encode()
    return hmac.new(key, b"OPTIMA backup key fingerprint", hashlib.sha256).hexdigest()[:16]


def _pg_command(program, database, *args):
    """(argv, env) for pg_dump / pg_restore against a Django database settings dict."""
    env = os.environ.copy()
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    argv = [program, "--host", str(database.get("HOST") or "localhost"), "--port", str(database.get("PORT") or 5432),
            "--username", str(database.get("USER") or "postgres"), *args]
    return argv, env


def _run(argv, env):
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise BackupError(_("%(program)s is not installed; it must match the PostgreSQL server version.")
                          % {"program": argv[0]}) from exc
    if result.returncode != 0:
        raise BackupError(_("%(program)s failed: %(error)s") % {"program": argv[0], "error": result.stderr.strip()})


def _dump_database(database, alias, target_dir):
    engine = database["ENGINE"]
    if engine == POSTGRES:
        path = target_dir / "database.dump"
        argv, env = _pg_command("pg_dump", database, "--format=custom", "--no-owner", "--no-privileges",
                                "--file", str(path), str(database["NAME"]))
        _run(argv, env)
        return path.name
    if engine == SQLITE:
        path = target_dir / "database.sqlite3"
        connection = connections[alias]
        connection.ensure_connection()
        # A consistent SQL dump through the app's own connection (sqlite3's backup API waits forever on a
        # shared-cache database that this connection holds a transaction on, as in tests).
        copy = sqlite3.connect(path)
        try:
            copy.executescript("\n".join(connection.connection.iterdump()))
        finally:
            copy.close()
        return path.name
    raise BackupError(_("Backups support PostgreSQL and SQLite, not %(engine)s.") % {"engine": engine})


def backup_create(*, output=None, using="default", media_root=None):
    """Write one archive with the database and the documents; return its path."""
    media_root = Path(media_root or settings.MEDIA_ROOT)
    database = connections[using].settings_dict
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    output = Path(output) if output else Path(settings.BACKUP_DIR) / f"optima-backup-{stamp}.tar.gz"
    if output.is_dir() or not output.name.endswith(".tar.gz"):  # a folder (existing or not)
        output = output / f"optima-backup-{stamp}.tar.gz"
    output.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "engine": database["ENGINE"],
        "referrals": Referral.objects.using(using).count(),
        "documents": Document.objects.using(using).count(),
        "ahv_key_fingerprint": ahv_key_fingerprint(),
    }
    with tempfile.TemporaryDirectory(prefix="optima-backup-") as tmp:
        tmp = Path(tmp)
        manifest["database"] = _dump_database(database, using, tmp)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial = output.with_name(output.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(tmp / "manifest.json", arcname="manifest.json")
            archive.add(tmp / manifest["database"], arcname=manifest["database"])
            if media_root.exists():
                archive.add(media_root, arcname="media")
        partial.replace(output)  # never a half-written archive under the final name
    output.chmod(0o600)  # client data: readable by the owner only
    return output


def read_manifest(archive_path):
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            return json.load(archive.extractfile("manifest.json"))
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise BackupError(_("%(path)s is not an OPTIMA backup archive.") % {"path": archive_path}) from exc


def backup_restore(*, archive_path, database=None, media_root=None, allow_other_key=False, check_alias=None):
    """Restore an archive into ``database`` (a Django settings dict; default: the configured one) and
    ``media_root``. The target database must exist (PostgreSQL: ``createdb``); its tables are replaced.

    Returns the manifest. ``check_alias`` names a connection to the restored database on which the AHV key
    canary is checked afterwards (default: "default" when restoring into the configured database).
    """
    manifest = read_manifest(archive_path)
    if manifest.get("ahv_key_fingerprint") != ahv_key_fingerprint() and not allow_other_key:
        raise BackupError(_(
            "This backup was made with a different OPTIMA_AHV_KEY. Restored with the current key, its AHV "
            "numbers could not be read. Set the key the backup was made with and run restore again."))
    database = database or connections["default"].settings_dict
    media_root = Path(media_root or settings.MEDIA_ROOT)
    if database["ENGINE"] != manifest["engine"]:
        raise BackupError(_("This backup is from %(source)s and cannot be restored into %(target)s.")
                          % {"source": manifest["engine"], "target": database["ENGINE"]})
    connections.close_all()  # pg_restore --clean drops tables: no open connection may hold them
    with tempfile.TemporaryDirectory(prefix="optima-restore-") as tmp:
        tmp = Path(tmp)
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(tmp, filter="data")  # no absolute paths, no "..", no devices
        dump = tmp / manifest["database"]
        if database["ENGINE"] == POSTGRES:
            argv, env = _pg_command("pg_restore", database, "--clean", "--if-exists", "--no-owner",
                                    "--no-privileges", "--single-transaction", "--exit-on-error",
                                    "--dbname", str(database["NAME"]), str(dump))
            _run(argv, env)
        else:
            shutil.copyfile(dump, database["NAME"])
        media_root.mkdir(parents=True, exist_ok=True)
        if (tmp / "media").exists():
            shutil.copytree(tmp / "media", media_root, dirs_exist_ok=True)
    alias = check_alias or "default"
    if check_alias or database is connections["default"].settings_dict:
        problem = ahv_key_problem(using=alias)
        if problem:
            raise BackupError(problem)
    manifest["restored_at"] = datetime.datetime.now(datetime.UTC).isoformat()
    return manifest
