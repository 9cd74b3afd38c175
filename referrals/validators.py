"""Plausible dates and documents for referrals: one module the services, forms and API share.

Every check is relative to ``today`` (Zurich) and says in its message why the window exists, so a typo in
the year ("0001", "2200") is caught where it is typed instead of breaking pages later. Each function raises
a ``ValidationError`` with a translated message; ``collect`` gathers them per field for the services.
"""

import codecs
import datetime

import filetype
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)
EARLIEST_PAST_DATE = datetime.date(1900, 1, 1)
# Meetings are planned and recorded close to today; a year either way covers every real case.
MEETING_WINDOW = relativedelta(years=1)
# A cost approval starts at most a year back or two years ahead and runs at most two years (the longest mandate).
COST_APPROVAL_START_BACK = relativedelta(years=1)
COST_APPROVAL_START_AHEAD = relativedelta(years=2)
COST_APPROVAL_LONGEST = relativedelta(years=2)
INVOICE_WINDOW = relativedelta(years=3)
# Key figures: OPTIMA started long after 2000; nothing can be counted beyond next year.
EARLIEST_REPORT_DATE = datetime.date(2000, 1, 1)
REPORT_AHEAD = relativedelta(years=1)


def _d(value):
    return date_format(value, "d.m.Y")


def _add(day, delta):
    try:
        return day + delta
    except OverflowError:
        return datetime.date.max if delta.years >= 0 and delta.days >= 0 else datetime.date.min


def _sub(day, delta):
    try:
        return day - delta
    except OverflowError:
        return datetime.date.min


def validate_birth_date(value, *, today):
    if value is None:
        return
    if value > today:
        raise ValidationError(_("The date of birth cannot be in the future. Please check the year."),
                              code="birth_future")
    if value < EARLIEST_BIRTH_DATE:
        raise ValidationError(_("The date of birth must be after %(earliest)s. Please check the year."),
                              code="birth_too_early", params={"earliest": _d(EARLIEST_BIRTH_DATE)})


def validate_consent_date(value, *, today, date_of_birth=None):
    if value is None:
        return
    if value > today:
        raise ValidationError(_("The consent cannot be dated in the future: record it once the client agreed."),
                              code="consent_future")
    if date_of_birth is not None and value < date_of_birth:
        raise ValidationError(_("The consent cannot be dated before the client's birth (%(birth)s). "
                                "Please check the year."), code="consent_before_birth",
                              params={"birth": _d(date_of_birth)})
    if value < EARLIEST_PAST_DATE:
        raise ValidationError(_("Please check the year of this date."), code="too_early")


def validate_past_date(value, *, today):
    """A date that has already happened (e.g. the last IV rejection)."""
    if value is None:
        return
    if value > today:
        raise ValidationError(_("This date cannot be in the future."), code="future")
    if value < EARLIEST_PAST_DATE:
        raise ValidationError(_("This date must be after %(earliest)s. Please check the year."),
                              code="too_early", params={"earliest": _d(EARLIEST_PAST_DATE)})


def validate_meeting_moment(value, *, now):
    """When a meeting is scheduled: within a year of today either way."""
    if value is None:
        return
    today = now.date()
    earliest, latest = _sub(today, MEETING_WINDOW), _add(today, MEETING_WINDOW)
    day = value.date()
    if not earliest <= day <= latest:
        raise ValidationError(
            _("Meetings are planned within a year of today (%(earliest)s to %(latest)s). Please check the year."),
            code="meeting_window", params={"earliest": _d(earliest), "latest": _d(latest)})


def validate_held_on(value, *, today):
    """A meeting note: the meeting took place, at most a year ago."""
    if value is None:
        return
    if value > today:
        raise ValidationError(_("The meeting cannot be recorded before it took place."), code="held_future")
    earliest = _sub(today, MEETING_WINDOW)
    if value < earliest:
        raise ValidationError(
            _("Meetings are recorded within a year (not before %(earliest)s). Please check the year."),
            code="held_too_early", params={"earliest": _d(earliest)})


def validate_planned_date(value, *, today):
    """A date agreed in a meeting (start of case work, next meeting): within a year of today either way."""
    if value is None:
        return
    earliest, latest = _sub(today, MEETING_WINDOW), _add(today, MEETING_WINDOW)
    if not earliest <= value <= latest:
        raise ValidationError(
            _("Plan this date within a year of today (%(earliest)s to %(latest)s). Please check the year."),
            code="planned_window", params={"earliest": _d(earliest), "latest": _d(latest)})


def validate_cost_approval_start(value, *, today):
    if value is None:
        return
    earliest, latest = _sub(today, COST_APPROVAL_START_BACK), _add(today, COST_APPROVAL_START_AHEAD)
    if not earliest <= value <= latest:
        raise ValidationError(
            _("A measure starts at most a year back or two years ahead (%(earliest)s to %(latest)s). "
              "Please check the year."),
            code="cost_approval_start", params={"earliest": _d(earliest), "latest": _d(latest)})


def validate_cost_approval_end(value, *, starts_on):
    if value is None or starts_on is None:
        return
    if value < starts_on:
        raise ValidationError(_("The end of the measure must be after its start."), code="ends_before_start")
    latest = _add(starts_on, COST_APPROVAL_LONGEST)
    if value > latest:
        raise ValidationError(
            _("A cost approval covers at most two years (until %(latest)s); request a new one for the time after."),
            code="cost_approval_too_long", params={"latest": _d(latest)})


def validate_invoice_date(value, *, today):
    if value is None:
        return
    if value > today:
        raise ValidationError(_("This date cannot be in the future."), code="future")
    earliest = _sub(today, INVOICE_WINDOW)
    if value < earliest:
        raise ValidationError(_("This date must be after %(earliest)s. Please check the year."),
                              code="too_early", params={"earliest": _d(earliest)})


def validate_report_date(value, *, today):
    """A day of a key-figure period."""
    if value is None:
        return
    latest = _add(today, REPORT_AHEAD)
    if not EARLIEST_REPORT_DATE <= value <= latest:
        raise ValidationError(
            _("Choose a day between %(earliest)s and %(latest)s."),
            code="report_window", params={"earliest": _d(EARLIEST_REPORT_DATE), "latest": _d(latest)})


def collect(errors, field, check, value, **kwargs):
    """Run one check and add its message to ``errors[field]`` (a dict the services raise at the end)."""
    try:
        check(value, **kwargs)
    except ValidationError as error:
        errors.setdefault(field, []).extend(error.messages)


# --- Documents: the content decides, not the name or the browser ------------------------------------------

WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# For each allowed file name ending, the content types its bytes may show.
DOCUMENT_TYPES = {
    "pdf": {"application/pdf"},
    "docx": {WORD},
    "doc": {"application/msword"},
    "xlsx": {EXCEL},
    "odt": {"application/vnd.oasis.opendocument.text"},
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "png": {"image/png"},
    "txt": {"text/plain"},
}
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old Word files (.doc) are OLE compound files
SNIFF_BYTES = 8192


def _looks_like_text(head):
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Windows-1252 text from older tools: printable bytes, line breaks and tabs only.
        return all(byte >= 0x20 or byte in (9, 10, 13) for byte in head)
    return True


def detect_content_type(head):
    """The content type the first bytes of a file show, or "" when they show none we know."""
    mime = filetype.guess_mime(head)
    if mime:
        return mime
    if head.startswith(OLE_SIGNATURE):
        return "application/msword"
    if _looks_like_text(head):
        return "text/plain"
    return ""


def validate_document_content(uploaded_file, extension):
    """Check a document's bytes against the type its name claims; return the detected content type.

    An .exe renamed .pdf (or a picture named .docx) is refused with a message that names what was found.
    """
    uploaded_file.seek(0)
    head = uploaded_file.read(SNIFF_BYTES)
    uploaded_file.seek(0)
    detected = detect_content_type(head)
    if detected not in DOCUMENT_TYPES.get(extension, set()):
        raise ValidationError(
            _("The content of this file does not match its name (.%(extension)s): it is not a real "
              "%(kind)s file. Please save the document again as %(kind)s (or as PDF) and add it once more."),
            code="content_mismatch", params={"extension": extension, "kind": extension.upper()})
    return detected
