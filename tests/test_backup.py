"""Backups and the AHV key (issue 10, item 6).

The drill on PostgreSQL (marked postgres, runs in CI): back up, restore into a new database and a new media
folder, and find the same referrals, readable AHV numbers and downloadable documents - through the app.
"""

import io
import sqlite3
import tarfile

import psycopg
import pytest
from conftest import VALID_AHV
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.urls import reverse

from backups.services import BackupError, backup_create, backup_restore, read_manifest
from referrals import services
from referrals.ahv import decrypt_ahv, decrypts
from referrals.checks import ahv_key_problem, check_ahv_key, refuse_to_start_on_wrong_ahv_key
from referrals.models import AhvKeyCanary, Referral, Status

PDF = b"%PDF-1.4 Arbeitsvertrag"
OTHER_KEY = Fernet.generate_key().decode()


def _case_with_document(make_referral, receiving_worker):
    referral = make_referral(Status.ACTIVE)
    document = services.document_upload(referral=referral, actor=receiving_worker, kind="employment_contract",
                                        uploaded_file=SimpleUploadedFile("Vertrag.pdf", PDF))
    return referral, document


# --- The key canary -----------------------------------------------------------------------------------------

def test_the_migration_stores_a_canary_the_configured_key_decrypts(db):
    canary = AhvKeyCanary.objects.get()
    assert decrypts(canary.ciphertext)
    assert check_ahv_key() == []


def test_a_wrong_key_stops_the_start_with_a_clear_message(db, settings, english):
    settings.AHV_ENCRYPTION_KEY = OTHER_KEY
    [error] = check_ahv_key()
    assert error.id == "optima.E001"
    assert "OPTIMA_AHV_KEY cannot decrypt" in error.msg and "key canary" in error.msg
    with pytest.raises(ImproperlyConfigured):
        refuse_to_start_on_wrong_ahv_key()


def test_without_a_canary_the_newest_client_is_the_witness(make_referral, settings, english):
    make_referral(Status.DRAFT)
    AhvKeyCanary.objects.all().delete()
    assert ahv_key_problem() == ""
    settings.AHV_ENCRYPTION_KEY = OTHER_KEY
    assert "newest client" in ahv_key_problem()


def test_a_fresh_database_without_data_passes(db):
    AhvKeyCanary.objects.all().delete()
    assert ahv_key_problem() == ""


# --- Archives ------------------------------------------------------------------------------------------------------

def test_backup_writes_one_archive_with_manifest_database_and_documents(make_referral, receiving_worker, tmp_path,
                                                                        settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    referral, document = _case_with_document(make_referral, receiving_worker)
    out = io.StringIO()
    call_command("backup", output=str(tmp_path / "backups"), stdout=out)
    [archive] = (tmp_path / "backups").glob("optima-backup-*.tar.gz")
    assert "OPTIMA_AHV_KEY" in out.getvalue()
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    manifest = read_manifest(archive)
    assert (manifest["referrals"], manifest["documents"]) == (1, 1)
    assert settings.AHV_ENCRYPTION_KEY not in archive.read_bytes().decode("latin-1")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert manifest["database"] in names
    assert f"media/{document.file.name}" in names


def test_restore_refuses_an_archive_made_with_another_key(make_referral, tmp_path, settings, english):
    settings.MEDIA_ROOT = tmp_path / "media"
    make_referral(Status.DRAFT)
    archive = backup_create(output=tmp_path / "b.tar.gz")
    settings.AHV_ENCRYPTION_KEY = OTHER_KEY
    with pytest.raises(BackupError) as caught:
        backup_restore(archive_path=archive, database={"ENGINE": connection.settings_dict["ENGINE"]},
                       media_root=tmp_path / "m2")
    assert "different OPTIMA_AHV_KEY" in str(caught.value)


def test_restore_refuses_something_that_is_not_a_backup(tmp_path, db):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(BackupError):
        backup_restore(archive_path=junk)


@pytest.mark.django_db(transaction=True)
def test_sqlite_backup_and_restore_into_a_new_file_and_media_folder(make_referral, receiving_worker, tmp_path,
                                                                   settings):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite path; PostgreSQL has its own drill below")
    settings.MEDIA_ROOT = tmp_path / "media"
    referral, document = _case_with_document(make_referral, receiving_worker)
    archive = backup_create(output=tmp_path / "b.tar.gz")
    target = {**connection.settings_dict, "NAME": str(tmp_path / "restored.sqlite3")}
    backup_restore(archive_path=archive, database=target, media_root=tmp_path / "restored-media")
    with sqlite3.connect(target["NAME"]) as db:
        reference, ciphertext = db.execute(
            "SELECT r.reference, c.ahv_ciphertext FROM referrals_referral r JOIN referrals_client c "
            "ON c.id = r.client_id").fetchone()
        [(file_name,)] = db.execute("SELECT file FROM referrals_document").fetchall()
    assert reference == referral.reference
    assert decrypt_ahv(ciphertext) == VALID_AHV
    assert (tmp_path / "restored-media" / file_name).read_bytes() == PDF


# --- The drill on PostgreSQL ---------------------------------------------------------------------------------------

def _admin_connection():
    params = connection.settings_dict
    return psycopg.connect(host=params["HOST"] or "localhost", port=params["PORT"] or 5432,
                           user=params["USER"], password=params["PASSWORD"] or None, dbname="postgres",
                           autocommit=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_backup_drill_restores_referrals_ahv_numbers_and_documents_on_postgresql(
        make_referral, receiving_worker, referrer, client, tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the drill needs PostgreSQL (pg_dump / pg_restore)")
    settings.MEDIA_ROOT = tmp_path / "media"
    referral, document = _case_with_document(make_referral, receiving_worker)
    second = make_referral(Status.SUBMITTED)
    expected = sorted(Referral.objects.values_list("reference", "status"))
    archive = backup_create(output=tmp_path / "backups")

    source_name = connection.settings_dict["NAME"]
    restored_name = f"{source_name}_restored"
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}"')
        admin.execute(f'CREATE DATABASE "{restored_name}"')
    restored_media = tmp_path / "restored-media"
    try:
        backup_restore(archive_path=archive, database={**connection.settings_dict, "NAME": restored_name},
                       media_root=restored_media)
        # Point the app at the restored database and media folder and use it as people do.
        connections.close_all()
        connection.settings_dict["NAME"] = restored_name
        with override_settings(MEDIA_ROOT=restored_media):
            assert sorted(Referral.objects.values_list("reference", "status")) == expected
            assert ahv_key_problem() == ""
            restored = Referral.objects.select_related("client").get(pk=referral.pk)
            assert restored.client.ahv_number == VALID_AHV
            assert Referral.objects.get(pk=second.pk).client.ahv_number == VALID_AHV
            client.force_login(referrer)
            response = client.get(reverse("referrals:document", args=[referral.pk, document.pk]))
            assert response.status_code == 200
            assert b"".join(response.streaming_content) == PDF
            page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
            assert referral.reference in page and "Vertrag.pdf" in page
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = source_name
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored_name}"')
