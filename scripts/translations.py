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
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
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
        total += len(entries)
        print(f"{locale}: {len(entries)} untranslated or fuzzy")
        for entry in entries:
            where = ", ".join(f"{f}:{line}" for f, line in entry.occurrences[:2])
            print(f"  - {entry.msgid!r}  ({where})")
    return 1 if total else 0


def _export(locale, target):
    data = {}
    for entry in missing_entries(locale):
        data[entry.msgid] = ["", ""] if entry.msgid_plural else ""
    Path(target).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(data)} entries written to {target}")


def _apply(locale, source):
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    po = polib.pofile(str(po_path(locale)))
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
