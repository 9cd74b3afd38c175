"""manage.py import_directory: creates and updates the directory from YAML, idempotent and all-or-nothing."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from institutions.directory_import import DirectoryImportError, load_directory
from institutions.models import Institution, Membership, Municipality, Role, User

DEMO_FILE = Path(__file__).resolve().parent.parent / "demo" / "directory.yaml"

BASE = """\
municipalities:
  - {bfs: 1103, name: Sursee}
  - {bfs: 1102, name: Sempach}
institutions:
  - key: rav-sursee
    name: RAV Sursee
    kind: rav
    email: rav.sursee@example.ch
    phone: "041 000 00 00"
    address: "6210 Sursee"
    municipalities: [1103, 1102]
  - key: sobz-sursee
    name: SoBZ Sursee
    kind: social
    email: sobz.sursee@example.ch
    municipalities: [1103]
    integral_case_management: true
    topics: [debts, addiction]
users:
  - username: anna.muster
    first_name: Anna
    last_name: Muster
    email: anna.muster@example.ch
    phone: "041 000 00 01"
    password: geheim-123
    institution: rav-sursee
    roles: [case_worker, contact_person]
  - username: beat.admin
    first_name: Beat
    last_name: Amrein
    email: beat.amrein@example.ch
    institution: sobz-sursee
    roles: [admin]
"""


@pytest.fixture(autouse=True)
def _english_and_fast(settings):
    # Messages are checked in their English source form; cheap hashing keeps the tests fast.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with translation.override("en"):
        yield


def run_import(tmp_path, text, *args, name="directory.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("import_directory", str(path), *args, stdout=out)
    return out.getvalue()


INSTITUTION_COLUMNS = (
    "key", "name", "kind", "email", "phone", "address", "active", "integral_case_management", "topics",
)
USER_COLUMNS = (
    "username", "first_name", "last_name", "email", "phone", "password", "is_staff", "is_superuser",
)


def directory_state():
    """Everything the import may touch, to prove a failed import changed nothing."""
    served = Institution.municipalities.through.objects
    areas = served.values_list("institution__key", "municipality__bfs_number")
    return (
        list(Municipality.objects.order_by("bfs_number").values_list("bfs_number", "name")),
        list(Institution.objects.order_by("key").values_list(*INSTITUTION_COLUMNS)),
        sorted(areas),
        list(User.objects.order_by("username").values_list(*USER_COLUMNS)),
        list(
            Membership.objects.order_by("user__username", "institution__key").values_list(
                "user__username", "institution__key", *Membership.ROLE_FIELDS.values()
            )
        ),
    )


def membership(username, key):
    return Membership.objects.get(user__username=username, institution__key=key)


# --- creating and updating ----------------------------------------------------------------------------


def test_import_creates_municipalities_institutions_and_users_with_roles(db, tmp_path):
    out = run_import(tmp_path, BASE)

    assert "Municipalities: 2 new, 0 changed; Institutions: 2 new, 0 changed; Users: 2 new, 0 changed." in out
    assert "Institution created: RAV Sursee (rav-sursee)" in out
    assert dict(Municipality.objects.values_list("bfs_number", "name")) == {1103: "Sursee", 1102: "Sempach"}

    rav = Institution.objects.get(key="rav-sursee")
    assert (rav.name, rav.kind, rav.email, rav.phone, rav.address) == (
        "RAV Sursee", "rav", "rav.sursee@example.ch", "041 000 00 00", "6210 Sursee"
    )
    assert set(rav.municipalities.values_list("bfs_number", flat=True)) == {1103, 1102}
    sobz = Institution.objects.get(key="sobz-sursee")
    assert sobz.integral_case_management is True
    assert sobz.topics == ["addiction", "debts"]  # stored in the order of ProblemArea

    anna = User.objects.get(username="anna.muster")
    assert (anna.first_name, anna.last_name, anna.email, anna.phone) == (
        "Anna", "Muster", "anna.muster@example.ch", "041 000 00 01"
    )
    assert anna.check_password("geheim-123")
    assert set(membership("anna.muster", "rav-sursee").roles) == {Role.CASE_WORKER, Role.CONTACT_PERSON}
    assert not anna.is_staff


def test_user_without_password_gets_no_usable_password(db, tmp_path):
    run_import(tmp_path, BASE)

    assert not User.objects.get(username="beat.admin").has_usable_password()


def test_admin_role_gives_staff_and_superuser_and_taking_it_away_removes_them(db, tmp_path):
    run_import(tmp_path, BASE)
    beat = User.objects.get(username="beat.admin")
    assert beat.is_staff and beat.is_superuser

    run_import(tmp_path, BASE.replace("roles: [admin]", "roles: [case_worker]"))

    beat.refresh_from_db()
    assert not beat.is_staff and not beat.is_superuser


def test_second_run_reports_no_changes(db, tmp_path):
    run_import(tmp_path, BASE)
    before = directory_state()

    out = run_import(tmp_path, BASE)

    assert "Municipalities: 0 new, 0 changed; Institutions: 0 new, 0 changed; Users: 0 new, 0 changed." in out
    assert "Nothing changed" in out
    assert directory_state() == before  # not even the password hash was redone


def test_changed_name_roles_and_area_are_updated_and_reported(db, tmp_path):
    run_import(tmp_path, BASE)
    changed = (
        BASE.replace("name: RAV Sursee", "name: RAV Sursee-Wiggertal")
        .replace("municipalities: [1103, 1102]", "municipalities: [1103]")
        .replace("roles: [case_worker, contact_person]", "roles: [signatory]")
    )

    out = run_import(tmp_path, changed)

    assert "Municipalities: 0 new, 0 changed; Institutions: 0 new, 1 changed; Users: 0 new, 1 changed." in out
    assert "Institution changed: RAV Sursee-Wiggertal (rav-sursee) (name, municipalities served)" in out
    assert "User changed: anna.muster, RAV Sursee-Wiggertal (roles)" in out
    rav = Institution.objects.get(key="rav-sursee")
    assert rav.name == "RAV Sursee-Wiggertal"
    assert list(rav.municipalities.values_list("bfs_number", flat=True)) == [1103]
    assert membership("anna.muster", "rav-sursee").roles == [Role.SIGNATORY]


def test_changed_password_is_set_and_reported(db, tmp_path):
    run_import(tmp_path, BASE)

    out = run_import(tmp_path, BASE.replace("password: geheim-123", "password: neues-passwort"))

    assert "User changed: anna.muster, RAV Sursee (password)" in out
    assert User.objects.get(username="anna.muster").check_password("neues-passwort")


def test_fields_left_out_keep_their_values(db, tmp_path):
    run_import(tmp_path, BASE)
    without_optional = (
        BASE.replace('    phone: "041 000 00 00"\n', "")
        .replace('    address: "6210 Sursee"\n', "")
        .replace("    municipalities: [1103, 1102]\n", "")
        .replace("    password: geheim-123\n", "")
    )

    out = run_import(tmp_path, without_optional)

    assert "Nothing changed" in out
    rav = Institution.objects.get(key="rav-sursee")
    assert (rav.phone, rav.address, rav.municipalities.count()) == ("041 000 00 00", "6210 Sursee", 2)
    assert User.objects.get(username="anna.muster").check_password("geheim-123")


def test_user_keeps_memberships_at_other_institutions(db, tmp_path):
    run_import(tmp_path, BASE)
    anna = User.objects.get(username="anna.muster")
    sobz = Institution.objects.get(key="sobz-sursee")
    Membership.objects.create(user=anna, institution=sobz, is_case_worker=False, is_signatory=True)

    run_import(tmp_path, BASE.replace("roles: [case_worker, contact_person]", "roles: [case_worker]"))

    assert membership("anna.muster", "sobz-sursee").roles == [Role.SIGNATORY]
    assert membership("anna.muster", "rav-sursee").roles == [Role.CASE_WORKER]


def test_references_may_point_to_entries_already_in_the_database(db, tmp_path):
    run_import(tmp_path, BASE)
    only_a_new_user = """\
users:
  - username: carla.neu
    first_name: Carla
    last_name: Neu
    email: carla.neu@example.ch
    institution: rav-sursee
    roles: [case_worker]
institutions:
  - {key: iv-luzern, name: WAS IV Luzern, kind: iv, email: iv@example.ch, municipalities: [1103, 1102]}
"""

    out = run_import(tmp_path, only_a_new_user)

    assert "Institutions: 1 new, 0 changed; Users: 1 new, 0 changed." in out
    assert membership("carla.neu", "rav-sursee").roles == [Role.CASE_WORKER]
    assert Institution.objects.get(key="iv-luzern").municipalities.count() == 2


def test_dry_run_reports_changes_but_saves_nothing(db, tmp_path):
    out = run_import(tmp_path, BASE, "--dry-run")

    assert "Users: 2 new, 0 changed." in out
    assert "Dry run: nothing was saved." in out
    assert not Municipality.objects.exists()
    assert not User.objects.exists()


# --- bad input: a message naming the line, and nothing written ---------------------------------------

# Each case edits BASE (the line to blame is marked "# <-") and also renames Sempach, so a partial
# import would show in the database.
BAD_INPUTS = {
    "unknown institution in a user": (
        [("institution: rav-sursee\n    roles: [case_worker, contact_person]",
          "institution: rav-xyz  # <-\n    roles: [case_worker, contact_person]")],
        "Unknown institution 'rav-xyz': it is neither in this file nor in the database.",
    ),
    "unknown role": (
        [("roles: [admin]", "roles:\n      - case_worker\n      - boss  # <-")],
        "Unknown role 'boss'; use one of: case_worker, contact_person, signatory, coordinator, admin, data_protection.",
    ),
    "duplicate institution key": (
        [("  - key: sobz-sursee", "  - key: rav-sursee  # <-")],
        "The institution key 'rav-sursee' is listed twice (first at line 5).",
    ),
    "duplicate username": (
        [("  - username: beat.admin", "  - username: anna.muster  # <-")],
        "The username 'anna.muster' is listed twice (first at line 20).",
    ),
    "duplicate bfs": (
        [("  - {bfs: 1102, name: Sempach LU}", "  - {bfs: 1103, name: Sempach LU}  # <-")],
        "The municipality with BFS number 1103 is listed twice (first at line 2).",
    ),
    "bad e-mail of a user": (
        [("email: anna.muster@example.ch", "email: anna.muster.example.ch  # <-")],
        "'anna.muster.example.ch' is not a valid e-mail address.",
    ),
    "bad e-mail of an institution": (
        [("email: sobz.sursee@example.ch", "email: sobz@  # <-")],
        "'sobz@' is not a valid e-mail address.",
    ),
    "unknown kind": (
        [("kind: rav", "kind: ahv  # <-")],
        "Unknown kind 'ahv'; use one of: rav, iv, social.",
    ),
    "unknown municipality": (
        [("municipalities: [1103]", "municipalities: [1103, 1104]  # <-")],
        "Unknown municipality with BFS number 1104: it is neither in this file nor in the database.",
    ),
    "missing required field": (
        [("  - username: beat.admin", "  - username: beat.admin  # <-"), ("    last_name: Amrein\n", "")],
        "Required field 'last_name' is missing.",
    ),
    "unknown field": (
        [("    kind: social", "    kind: social\n    integral_case_managment: true  # <-")],
        "Unknown field 'integral_case_managment'",
    ),
    "key twice in one entry": (
        [("    kind: social", "    kind: social\n    name: SoBZ Region Sursee  # <-")],
        "The key 'name' appears twice in this entry.",
    ),
    "unquoted phone number": (
        [('phone: "041 000 00 01"', "phone: 0410000001  # <-")],
        "'phone' must be text: put the value in quotes.",
    ),
    "integral case management at a RAV": (
        [("    address: \"6210 Sursee\"\n",
          "    address: \"6210 Sursee\"\n    integral_case_management: true  # <-\n")],
        "'integral_case_management' applies to social services only (kind: social).",
    ),
    "unparseable YAML": (
        [("    kind: rav", "\tkind: rav  # <-")],
        "The file is not valid YAML",
    ),
}


@pytest.mark.parametrize("edits, message", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_the_line_and_changes_nothing(db, tmp_path, edits, message):
    run_import(tmp_path, BASE)
    before = directory_state()
    text = BASE.replace("name: Sempach}", "name: Sempach LU}")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "# <-" in content)

    with pytest.raises(CommandError) as raised:
        run_import(tmp_path, text, name="bad.yaml")

    assert str(raised.value).startswith(f"Line {line}: ")
    assert message in str(raised.value)
    assert directory_state() == before


@pytest.mark.parametrize(
    "text, message",
    [
        ("Dies ist keine Datei im Verzeichnisformat.\n", "must be a YAML mapping"),
        ("- {bfs: 1103, name: Sursee}\n", "must be a YAML mapping"),
        ("gemeinden:\n  - {bfs: 1103, name: Sursee}\n", "Unknown section 'gemeinden'"),
        ("municipalities: {bfs: 1103, name: Sursee}\n", "must be a list of entries"),
    ],
    ids=["prose", "list at the top", "unknown section", "section not a list"],
)
def test_file_of_the_wrong_shape_is_refused_with_line_one(db, tmp_path, text, message):
    with pytest.raises(CommandError, match=message) as raised:
        run_import(tmp_path, text)

    assert str(raised.value).startswith("Line 1: ")
    assert not Municipality.objects.exists()


def test_file_not_found_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="File not found: .*missing.yaml"):
        call_command("import_directory", str(tmp_path / "missing.yaml"), stdout=io.StringIO())


def test_file_that_is_not_text_is_refused(db, tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a yaml file")

    with pytest.raises(CommandError, match="not a UTF-8 text file"):
        call_command("import_directory", str(path), stdout=io.StringIO())
    assert not Municipality.objects.exists()


def test_load_directory_reports_the_line_of_a_list_item(db):
    text = "institutions:\n  - key: rav\n    name: RAV\n    kind: rav\n    email: rav@example.ch\n" \
           "    municipalities:\n      - 1103\n      - elf\n"

    with pytest.raises(DirectoryImportError) as raised:
        load_directory(text)

    assert raised.value.line == 8
    assert "'elf' is not a BFS number" in raised.value.message


# --- the demo directory -------------------------------------------------------------------------------


def test_demo_directory_imports_cleanly_with_every_role(db):
    out = io.StringIO()
    call_command("import_directory", str(DEMO_FILE), stdout=out)

    assert "Nothing changed" not in out.getvalue()
    for role, field in Membership.ROLE_FIELDS.items():
        assert Membership.objects.filter(**{field: True}).exists(), f"no demo user with role {role}"
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert all(user.check_password("optima-demo") for user in User.objects.all())
    for username in ("sd.beratung", "sd.kontakt", "sd.zeichnung", "iv.beratung", "iv.kontakt", "iv.zeichnung",
                     "rav.beratung", "rav.kontakt", "rav.zeichnung", "koordination", "admin"):
        assert User.objects.filter(username=username).exists(), username
    assert membership("koordination", "was-iv-luzern").roles == [Role.COORDINATOR]
    # WAS IV Luzern serves every municipality listed; social services only take OPTIMA-SH where offered.
    assert Institution.objects.get(key="was-iv-luzern").municipalities.count() == Municipality.objects.count()
    assert Institution.objects.get(key="sd-stadt-luzern").integral_case_management
    assert Institution.objects.get(key="fachstelle-sucht").topics == ["addiction"]

    again = io.StringIO()
    call_command("import_directory", str(DEMO_FILE), stdout=again)
    assert "Nothing changed" in again.getvalue()
