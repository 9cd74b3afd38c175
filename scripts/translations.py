#!/usr/bin/env python
"""Which user-facing strings still lack a translation, per language (issue 12).

    python scripts/translations.py                 # list untranslated and fuzzy entries of de_CH, fr_CH, it_CH
    python scripts/translations.py fr_CH           # only French
    python scripts/translations.py --export fr_CH todo.json   # the missing entries as {"msgid": ""} to fill
    python scripts/translations.py --apply fr_CH done.json    # write filled entries back (clears "fuzzy")

Run `manage.py makemessages -l de_CH -l fr_CH -l it_CH --ignore=.venv --ignore=staticfiles --no-obsolete`
first, then `manage.py compilemessages --ignore=.venv` after applying. Exit code 1 while anything is missing.
Plural entries are exported as {"msgid": ["singular form", "plural form", ...]}.
"""

import json
import re
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|\{\w+\}")
sys.path.insert(0, str(ROOT))
from optima.languages import TRANSLATED_LOCALES  # noqa: E402


def po_path(locale):
    return ROOT / "locale" / locale / "LC_MESSAGES" / "django.po"


def missing_entries(locale):
    """Entries without a complete, non-fuzzy translation."""
    po = polib.pofile(str(po_path(locale)))
    result = []
    for entry in po:
        if entry.obsolete:
            continue
        if entry.msgid_plural:
            done = entry.msgstr_plural and all(v.strip() for v in entry.msgstr_plural.values())
        else:
            done = bool(entry.msgstr.strip())
        if not done or "fuzzy" in entry.flags:
            result.append(entry)
    return result


def _list(locales):
    total = 0
    for locale in locales:
        entries = missing_entries(locale)
        problems = placeholder_problems(locale)
        total += len(entries) + len(problems)
        print(f"{locale}: {len(entries)} untranslated or fuzzy, {len(problems)} with wrong placeholders")
        for entry in entries:
            where = ", ".join(f"{f}:{line}" for f, line in entry.occurrences[:2])
            print(f"  - {entry.msgid!r}  ({where})")
        for msgid, text in problems:
            print(f"  ! placeholders differ: {msgid!r} -> {text!r}")
    return 1 if total else 0


def _export(locale, target):
    data = {}
    for entry in missing_entries(locale):
        data[entry.msgid] = ["", ""] if entry.msgid_plural else ""
    Path(target).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(data)} entries written to {target}")


PLURAL_FORMS = {"de": "nplurals=2; plural=(n != 1);", "fr": "nplurals=2; plural=(n > 1);",
                "it": "nplurals=2; plural=(n != 1);"}


def _fix_header(po, locale):
    """A fresh catalogue from makemessages has placeholders in its header; fill them in."""
    if "INTEGER" in po.metadata.get("Plural-Forms", "INTEGER"):
        po.metadata["Plural-Forms"] = PLURAL_FORMS[locale[:2]]
    if not po.metadata.get("Language"):
        po.metadata["Language"] = locale
    po.metadata["Project-Id-Version"] = "OPTIMA Referrals"
    po.metadata_is_fuzzy = False


def placeholders(text):
    return sorted(set(PLACEHOLDER.findall(text or "")))


def placeholder_problems(locale):
    """Translations whose %(name)s / {name} placeholders differ from the English source."""
    problems = []
    for entry in polib.pofile(str(po_path(locale))):
        if entry.obsolete or "fuzzy" in entry.flags:
            continue
        pairs = [(entry.msgid, entry.msgstr)] if not entry.msgid_plural else [
            (entry.msgid_plural if index else entry.msgid, text) for index, text in entry.msgstr_plural.items()]
        for source, text in pairs:
            if text and placeholders(text) != placeholders(source) and not (
                    entry.msgid_plural and set(placeholders(text)) <= set(placeholders(entry.msgid_plural))):
                problems.append((entry.msgid, text))
    return problems


def _apply(locale, source):
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    po = polib.pofile(str(po_path(locale)))
    _fix_header(po, locale)
    count = 0
    for entry in po:
        value = data.get(entry.msgid)
        if not value:
            continue
        if entry.msgid_plural:
            forms = value if isinstance(value, list) else [value, value]
            entry.msgstr_plural = {i: form for i, form in enumerate(forms)}
        else:
            entry.msgstr = value
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
            entry.previous_msgid = None
        count += 1
    po.save()
    print(f"{count} entries of {locale} filled")


def main(argv):
    if argv[:1] == ["--export"]:
        return _export(argv[1], argv[2])
    if argv[:1] == ["--apply"]:
        return _apply(argv[1], argv[2])
    return _list(argv or TRANSLATED_LOCALES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
