"""Import the directory (municipalities, institutions, users and their roles) from a YAML file.

`load_directory(text)` parses and checks the whole file and returns a `DirectoryPlan`; anything wrong
raises `DirectoryImportError` naming the line. Only then does `apply_directory(plan)` write, in one
transaction, and return an `ImportSummary` of what it created and changed.

The file describes the wanted state of what it lists; entries are matched by a municipality's `bfs`,
an institution's `key` and a user's `username`, so importing the same file twice changes nothing the
second time. Fields left out keep their current value (a new entry gets the model's default); nothing
that the file does not mention is deleted. A user is listed with one institution and gets exactly the
listed roles there; memberships at other institutions stay as they are. A password is set only when
given and different; a new user without one gets no usable password (they use "forgot password").

    municipalities:
      - {bfs: 1103, name: Sursee}
    institutions:
      - key: rav-sursee
        name: RAV Sursee
        kind: rav                          # rav | iv | social
        email: rav.sursee@example.ch
        phone: "041 000 00 00"             # optional, like address and active
        municipalities: [1103]             # optional: the area served, by BFS number
        integral_case_management: false    # social services only
        topics: [addiction]                # social services only: codes of ProblemArea
    users:
      - username: anna.muster
        first_name: Anna
        last_name: Muster
        email: anna.muster@example.ch
        phone: "041 000 00 01"             # optional
        password: "..."                    # optional
        institution: rav-sursee
        roles: [case_worker, contact_person]
"""

from dataclasses import dataclass, field

import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Institution, InstitutionKind, Membership, Municipality, ProblemArea, Role
from .services import membership_set_roles
from .validators import has_control_characters, validate_phone

SECTIONS = ("municipalities", "institutions", "users")

MUNICIPALITY_FIELDS = ("bfs", "name")
INSTITUTION_FIELDS = (
    "key", "name", "kind", "email", "phone", "address", "municipalities", "integral_case_management",
    "topics", "active",
)
USER_FIELDS = ("username", "first_name", "last_name", "email", "phone", "password", "institution", "roles")

MUNICIPALITY_REQUIRED = ("bfs", "name")
INSTITUTION_REQUIRED = ("key", "name", "kind", "email")
USER_REQUIRED = ("username", "first_name", "last_name", "email", "institution", "roles")

BFS_MAX = 9999


class DirectoryImportError(Exception):
    """The file cannot be imported. `line` is 1-based, or None when no line can be named."""

    def __init__(self, line, message):
        super().__init__(line, message)
        self.line = line
        self.message = message

    def __str__(self):
        if self.line is None:
            return self.message
        # Translators: prefix of every error of the directory import, e.g. "Line 12: unknown role 'boss'."
        return _("Line %(line)s: %(message)s") % {"line": self.line, "message": self.message}


# --- YAML with line numbers -------------------------------------------------------------------------


class _Mapping(dict):
    """A YAML mapping that remembers its line and the line of each of its keys."""

    line = None

    def __init__(self, *args, line=None, key_lines=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines = key_lines or {}

    def line_of(self, key):
        return self.key_lines.get(key, self.line)


class _Sequence(list):
    """A YAML sequence that remembers its line and the line of each item."""

    def __init__(self, *args, line=None, item_lines=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = line
        self.item_lines = item_lines or []

    def line_of(self, index):
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _LineLoader(yaml.SafeLoader):
    """Safe YAML, but mappings and sequences carry line numbers and duplicate keys are refused."""


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    mapping = _Mapping(line=node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            message = _("A key must be a plain word, not a list or mapping.")
            raise DirectoryImportError(line, message) from None
        if key in mapping:
            raise DirectoryImportError(
                line, _("The key '%(key)s' appears twice in this entry.") % {"key": key}
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


def _construct_sequence(loader, node):
    return _Sequence(
        (loader.construct_object(child, deep=True) for child in node.value),
        line=node.start_mark.line + 1,
        item_lines=[child.start_mark.line + 1 for child in node.value],
    )


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _parse_yaml(text):
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or str(exc)
        raise DirectoryImportError(mark.line + 1 if mark else None, _not_yaml(problem)) from exc
    except yaml.reader.ReaderError as exc:
        raise DirectoryImportError(text.count("\n", 0, exc.position) + 1, _not_yaml(exc.reason)) from exc
    except yaml.YAMLError as exc:
        raise DirectoryImportError(None, _not_yaml(exc)) from exc


def _not_yaml(problem):
    # Translators: the problem comes from the YAML parser, in English, e.g. "could not find expected ':'".
    return _("The file is not valid YAML: %(problem)s.") % {"problem": problem}


# --- The plan ---------------------------------------------------------------------------------------


@dataclass
class MunicipalityRow:
    line: int
    bfs: int
    name: str


@dataclass
class InstitutionRow:
    line: int
    key: str
    fields: dict  # model field -> value, only what the file gives
    municipalities: list | None  # BFS numbers, None when the file leaves them out
    municipality_lines: dict = field(default_factory=dict)  # BFS number -> line, for messages


@dataclass
class UserRow:
    line: int
    username: str
    fields: dict  # first_name, last_name, email and phone when given
    password: str | None
    institution: str
    roles: frozenset
    institution_line: int | None = None


@dataclass
class DirectoryPlan:
    municipalities: list = field(default_factory=list)
    institutions: list = field(default_factory=list)
    users: list = field(default_factory=list)


# --- Checking fields --------------------------------------------------------------------------------


def _max_length(model, name):
    return model._meta.get_field(name).max_length


class _Entry:
    """Reads and checks the fields of one entry of a section."""

    def __init__(self, mapping, allowed, required):
        self.mapping = mapping
        for key in mapping:
            if key not in allowed:
                raise DirectoryImportError(
                    mapping.line_of(key),
                    _("Unknown field '%(field)s'; allowed are: %(allowed)s.")
                    % {"field": key, "allowed": ", ".join(allowed)},
                )
        for name in required:
            if name not in mapping:
                raise DirectoryImportError(
                    mapping.line, _("Required field '%(field)s' is missing.") % {"field": name}
                )

    @property
    def line(self):
        return self.mapping.line

    def line_of(self, name):
        return self.mapping.line_of(name)

    def __contains__(self, name):
        return name in self.mapping

    def error(self, name, message):
        return DirectoryImportError(self.line_of(name), message)

    def text(self, name, max_length=None, required=False):
        value = self.mapping.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            # YAML reads unquoted 0410000000, yes or 2024-01-31 as a number, a boolean or a date:
            # refuse rather than guess what was meant.
            raise self.error(name, _("'%(field)s' must be text: put the value in quotes.") % {"field": name})
        value = value.strip()
        if has_control_characters(value):
            raise self.error(name, _("'%(field)s' contains control characters (e.g. a tab or NUL): remove them.")
                             % {"field": name})
        if required and not value:
            raise self.error(name, _("'%(field)s' must not be empty.") % {"field": name})
        if max_length and len(value) > max_length:
            message = _("'%(field)s' is too long (at most %(max)s characters).")
            raise self.error(name, message % {"field": name, "max": max_length})
        return value

    def boolean(self, name):
        value = self.mapping.get(name)
        if not isinstance(value, bool):
            raise self.error(name, _("'%(field)s' must be true or false.") % {"field": name})
        return value

    def items(self, name):
        """The list under `name` as (value, line) pairs; a missing or empty value is an empty list."""
        value = self.mapping.get(name)
        if value is None:
            return []
        if not isinstance(value, _Sequence):
            raise self.error(name, _("'%(field)s' must be a list.") % {"field": name})
        return [(item, value.line_of(index)) for index, item in enumerate(value)]

    def phone(self, name, max_length):
        value = self.text(name, max_length)
        try:
            validate_phone(value)
        except ValidationError as exc:
            message = _("'%(field)s': %(problem)s") % {"field": name, "problem": exc.messages[0]}
            raise self.error(name, message) from None
        return value

    def email(self, name, max_length):
        value = self.text(name, max_length, required=True)
        try:
            validate_email(value)
        except ValidationError:
            raise self.error(
                name, _("'%(email)s' is not a valid e-mail address.") % {"email": value}
            ) from None
        return value


def _bfs_number(value, line):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= BFS_MAX:
        raise DirectoryImportError(
            line,
            _("'%(value)s' is not a BFS number (a whole number from 1 to %(max)s).")
            % {"value": value, "max": BFS_MAX},
        )
    return value


def _choice(value, line, choices, message):
    if not isinstance(value, str) or value not in choices:
        raise DirectoryImportError(line, message % {"value": value, "choices": ", ".join(choices)})
    return value


def _entries(data, section):
    """The mappings of one section of the file."""
    value = data.get(section)
    if value is None:
        return []
    if not isinstance(value, _Sequence):
        message = _("The section '%(section)s' must be a list of entries.")
        raise DirectoryImportError(data.line_of(section), message % {"section": section})
    entries = []
    for index, item in enumerate(value):
        if not isinstance(item, _Mapping):
            message = _("Each entry of '%(section)s' must be a mapping of fields (name: value).")
            raise DirectoryImportError(value.line_of(index), message % {"section": section})
        entries.append(item)
    return entries


def _unique(seen, value, line, message):
    if value in seen:
        raise DirectoryImportError(line, message % {"value": value, "first": seen[value]})
    seen[value] = line


# --- load_directory ---------------------------------------------------------------------------------


def load_directory(text):
    """Parse and check a directory file; return a `DirectoryPlan` or raise `DirectoryImportError`.

    Reads the database (to resolve references to entries the file does not list) but never writes.
    """
    data = _parse_yaml(text)
    if not isinstance(data, _Mapping):
        raise DirectoryImportError(
            getattr(data, "line", None) or 1,
            _("The file must be a YAML mapping with the sections %(sections)s.")
            % {"sections": ", ".join(SECTIONS)},
        )
    for key in data:
        if key not in SECTIONS:
            raise DirectoryImportError(
                data.line_of(key),
                _("Unknown section '%(section)s'; expected %(sections)s.")
                % {"section": key, "sections": ", ".join(SECTIONS)},
            )

    plan = DirectoryPlan(
        municipalities=_load_municipalities(_entries(data, "municipalities")),
        institutions=_load_institutions(_entries(data, "institutions")),
        users=_load_users(_entries(data, "users")),
    )
    _check_references(plan)
    return plan


def _load_municipalities(mappings):
    rows, seen = [], {}
    for mapping in mappings:
        entry = _Entry(mapping, MUNICIPALITY_FIELDS, MUNICIPALITY_REQUIRED)
        bfs = _bfs_number(mapping["bfs"], entry.line_of("bfs"))
        _unique(
            seen, bfs, entry.line_of("bfs"),
            _("The municipality with BFS number %(value)s is listed twice (first at line %(first)s)."),
        )
        name = entry.text("name", _max_length(Municipality, "name"), required=True)
        rows.append(MunicipalityRow(line=entry.line, bfs=bfs, name=name))
    return rows


def _load_institutions(mappings):
    rows, seen = [], {}
    for mapping in mappings:
        entry = _Entry(mapping, INSTITUTION_FIELDS, INSTITUTION_REQUIRED)
        key = entry.text("key", _max_length(Institution, "key"), required=True)
        try:
            validate_slug(key)
        except ValidationError:
            message = _("'%(key)s' is not a valid key: use only letters, digits, hyphens and underscores.")
            raise entry.error("key", message % {"key": key}) from None
        _unique(
            seen, key, entry.line_of("key"),
            _("The institution key '%(value)s' is listed twice (first at line %(first)s)."),
        )
        kind = _choice(
            mapping["kind"], entry.line_of("kind"), InstitutionKind.values,
            _("Unknown kind '%(value)s'; use one of: %(choices)s."),
        )
        fields = {
            "name": entry.text("name", _max_length(Institution, "name"), required=True),
            "kind": kind,
            "email": entry.email("email", _max_length(Institution, "email")),
        }
        if "phone" in entry:
            fields["phone"] = entry.phone("phone", _max_length(Institution, "phone"))
        if "address" in entry:
            fields["address"] = entry.text("address")
        if "active" in entry:
            fields["active"] = entry.boolean("active")
        if "integral_case_management" in entry:
            fields["integral_case_management"] = entry.boolean("integral_case_management")
            if fields["integral_case_management"] and kind != InstitutionKind.SOCIAL:
                raise entry.error(
                    "integral_case_management",
                    _("'%(field)s' applies to social services only (kind: social).")
                    % {"field": "integral_case_management"},
                )
        if "topics" in entry:
            unknown_topic = _("Unknown topic '%(value)s'; use one of: %(choices)s.")
            topics = {
                _choice(value, line, ProblemArea.values, unknown_topic)
                for value, line in entry.items("topics")
            }
            if topics and kind != InstitutionKind.SOCIAL:
                raise entry.error(
                    "topics",
                    _("'%(field)s' applies to social services only (kind: social).") % {"field": "topics"},
                )
            fields["topics"] = [code for code in ProblemArea.values if code in topics]
        municipalities, municipality_lines = None, {}
        if "municipalities" in entry:
            for value, line in entry.items("municipalities"):
                municipality_lines.setdefault(_bfs_number(value, line), line)
            municipalities = list(municipality_lines)
        rows.append(
            InstitutionRow(
                line=entry.line, key=key, fields=fields, municipalities=municipalities,
                municipality_lines=municipality_lines,
            )
        )
    return rows


def _load_users(mappings):
    User = get_user_model()
    rows, seen = [], {}
    for mapping in mappings:
        entry = _Entry(mapping, USER_FIELDS, USER_REQUIRED)
        username = entry.text("username", _max_length(User, "username"), required=True)
        try:
            User.username_validator(username)
        except ValidationError:
            raise entry.error(
                "username",
                _("'%(username)s' is not a valid username: use letters, digits and @ . + - _ only.")
                % {"username": username},
            ) from None
        _unique(
            seen, username, entry.line_of("username"),
            _("The username '%(value)s' is listed twice (first at line %(first)s)."),
        )
        fields = {
            "first_name": entry.text("first_name", _max_length(User, "first_name"), required=True),
            "last_name": entry.text("last_name", _max_length(User, "last_name"), required=True),
            "email": entry.email("email", _max_length(User, "email")),
        }
        if "phone" in entry:
            fields["phone"] = entry.phone("phone", _max_length(User, "phone"))
        password = None
        if entry.mapping.get("password") is not None:
            password = entry.text("password", required=True)
        institution = entry.text("institution", _max_length(Institution, "key"), required=True)
        roles = frozenset(
            _choice(value, line, Role.values, _("Unknown role '%(value)s'; use one of: %(choices)s."))
            for value, line in entry.items("roles")
        )
        if not roles:
            raise entry.error("roles", _("A user needs at least one role."))
        rows.append(
            UserRow(
                line=entry.line, username=username, fields=fields, password=password,
                institution=institution, roles=roles, institution_line=entry.line_of("institution"),
            )
        )
    return rows


def _check_references(plan):
    """Municipalities and institutions referred to must be in the file or already in the database."""
    known_bfs = {row.bfs for row in plan.municipalities}
    wanted_bfs = {bfs for row in plan.institutions for bfs in row.municipalities or []}
    in_database = Municipality.objects.filter(bfs_number__in=wanted_bfs - known_bfs)
    known_bfs |= set(in_database.values_list("bfs_number", flat=True))
    for row in plan.institutions:
        for bfs in row.municipalities or []:
            if bfs not in known_bfs:
                raise _unknown_municipality(row, bfs)

    known_keys = {row.key for row in plan.institutions}
    wanted_keys = {row.institution for row in plan.users}
    in_database = Institution.objects.filter(key__in=wanted_keys - known_keys)
    known_keys |= set(in_database.values_list("key", flat=True))
    for row in plan.users:
        if row.institution not in known_keys:
            raise _unknown_institution(row)


def _unknown_municipality(row, bfs):
    message = _(
        "Unknown municipality with BFS number %(bfs)s: it is neither in this file nor in the database."
    )
    return DirectoryImportError(row.municipality_lines.get(bfs, row.line), message % {"bfs": bfs})


def _unknown_institution(row):
    message = _("Unknown institution '%(key)s': it is neither in this file nor in the database.")
    return DirectoryImportError(row.institution_line, message % {"key": row.institution})


# --- apply_directory --------------------------------------------------------------------------------


@dataclass
class SectionSummary:
    created: list = field(default_factory=list)  # labels
    changed: list = field(default_factory=list)  # (label, [field names])
    unchanged: int = 0


@dataclass
class ImportSummary:
    municipalities: SectionSummary = field(default_factory=SectionSummary)
    institutions: SectionSummary = field(default_factory=SectionSummary)
    users: SectionSummary = field(default_factory=SectionSummary)
    dry_run: bool = False

    @property
    def has_changes(self):
        return any(section.created or section.changed for section in self._sections())

    def _sections(self):
        return (self.municipalities, self.institutions, self.users)

    def lines(self):
        """One translated line per created or changed entry."""
        created = (
            _("Municipality created: %(label)s"),
            _("Institution created: %(label)s"),
            _("User created: %(label)s"),
        )
        changed = (
            _("Municipality changed: %(label)s (%(fields)s)"),
            _("Institution changed: %(label)s (%(fields)s)"),
            _("User changed: %(label)s (%(fields)s)"),
        )
        models = (Municipality, Institution, get_user_model())
        lines = []
        for section, model, created_text, changed_text in zip(
            self._sections(), models, created, changed, strict=True
        ):
            lines += [created_text % {"label": label} for label in section.created]
            for label, names in section.changed:
                fields = ", ".join(_field_label(model, name) for name in names)
                lines.append(changed_text % {"label": label, "fields": fields})
        return lines

    def totals(self):
        return _(
            "Municipalities: %(municipalities_new)d new, %(municipalities_changed)d changed; "
            "Institutions: %(institutions_new)d new, %(institutions_changed)d changed; "
            "Users: %(users_new)d new, %(users_changed)d changed."
        ) % {
            "municipalities_new": len(self.municipalities.created),
            "municipalities_changed": len(self.municipalities.changed),
            "institutions_new": len(self.institutions.created),
            "institutions_changed": len(self.institutions.changed),
            "users_new": len(self.users.created),
            "users_changed": len(self.users.changed),
        }


def _field_label(model, name):
    """The translated name of a changed field of `model`, for the summary."""
    if name == "roles":
        return _("roles")
    try:
        return str(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def apply_directory(plan, *, dry_run=False):
    """Write a checked plan in one transaction; with `dry_run` report what would change and roll back."""
    summary = ImportSummary(dry_run=dry_run)
    with transaction.atomic():
        _apply_municipalities(plan, summary.municipalities)
        institutions = _apply_institutions(plan, summary.institutions)
        _apply_users(plan, summary.users, institutions)
        if dry_run:
            transaction.set_rollback(True)
    return summary


def _apply_municipalities(plan, summary):
    existing = Municipality.objects.in_bulk([row.bfs for row in plan.municipalities], field_name="bfs_number")
    for row in plan.municipalities:
        label = f"{row.name} ({row.bfs})"
        municipality = existing.get(row.bfs)
        if municipality is None:
            Municipality.objects.create(bfs_number=row.bfs, name=row.name)
            summary.created.append(label)
        elif municipality.name != row.name:
            municipality.name = row.name
            municipality.save(update_fields=["name"])
            summary.changed.append((label, ["name"]))
        else:
            summary.unchanged += 1


def _apply_institutions(plan, summary):
    by_key = Institution.objects.in_bulk([row.key for row in plan.institutions], field_name="key")
    for row in plan.institutions:
        label = f"{row.fields['name']} ({row.key})"
        institution = by_key.get(row.key)
        if institution is None:
            institution = Institution.objects.create(key=row.key, **row.fields)
            by_key[row.key] = institution
            if row.municipalities:
                institution.municipalities.set(_municipalities(row))
            summary.created.append(label)
            continue
        changed = [name for name, value in row.fields.items() if getattr(institution, name) != value]
        for name in changed:
            setattr(institution, name, row.fields[name])
        if changed:
            institution.save(update_fields=changed)
        if row.municipalities is not None:
            current = set(institution.municipalities.values_list("bfs_number", flat=True))
            if current != set(row.municipalities):
                institution.municipalities.set(_municipalities(row))
                changed.append("municipalities")
        if changed:
            summary.changed.append((label, changed))
        else:
            summary.unchanged += 1
    return by_key


def _municipalities(row):
    municipalities = list(Municipality.objects.filter(bfs_number__in=row.municipalities))
    missing = set(row.municipalities) - {municipality.bfs_number for municipality in municipalities}
    if missing:  # deleted since load_directory looked: give up, the transaction rolls back
        raise _unknown_municipality(row, min(missing))
    return municipalities


def _apply_users(plan, summary, institutions):
    User = get_user_model()
    missing_keys = {row.institution for row in plan.users} - set(institutions)
    institutions = {**institutions, **Institution.objects.in_bulk(list(missing_keys), field_name="key")}
    existing = User.objects.in_bulk([row.username for row in plan.users], field_name="username")
    for row in plan.users:
        institution = institutions.get(row.institution)
        if institution is None:  # deleted since load_directory looked: the transaction rolls back
            raise _unknown_institution(row)
        label = f"{row.username}, {institution.name}"
        user = existing.get(row.username)
        if user is None:
            user = User(username=row.username, **row.fields)
            if row.password:
                user.set_password(row.password)
            else:
                user.set_unusable_password()
            user.save()
            membership_set_roles(user=user, institution=institution, roles=row.roles)
            summary.created.append(label)
            continue

        changed = [name for name, value in row.fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, row.fields[name])
        if row.password and not _password_matches(user, row.password):
            user.set_password(row.password)
            changed.append("password")
        if changed:
            user.save(update_fields=changed)
        membership = Membership.objects.filter(user=user, institution=institution).first()
        if membership is None or set(membership.roles) != set(row.roles):
            membership_set_roles(user=user, institution=institution, roles=row.roles)
            changed.append("roles")
        if changed:
            summary.changed.append((label, changed))
        else:
            summary.unchanged += 1


def _password_matches(user, raw_password):
    # check_password() may rehash and save on its own when the hasher changed; that is not a change
    # the import reports, and happens inside the same transaction.
    return user.has_usable_password() and user.check_password(raw_password)
