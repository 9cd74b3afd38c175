"""The one way into the audit trail (``audit_record``), and the one way out (``audit_purge``, retention)."""

import datetime

import pgtrigger
from django.db import transaction
from django.utils import timezone

from .models import AuditRecord, Outcome

# Records about a target are kept at least this long after the target was anonymised.
RETENTION_AFTER_ANONYMISATION = datetime.timedelta(days=365)

PURGE_TRIGGER = "audit.AuditRecord:protect_deletes"


def _target_key(target):
    """(label, id) of a model instance, or of a ``(label, id)`` pair for rows that may not exist."""
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        label, pk = target
        return label.lower(), str(pk)
    return target._meta.label_lower, str(target.pk)


def _protected_label():
    return AuditRecord._meta.get_field("referral").related_model._meta.label_lower


def _record(actor, action, target, outcome, referral_id):
    target_type, target_id = _target_key(target)
    # A referral as target ties the record to it; given as (label, id) only when the read succeeded - a denied
    # attempt may name an id that does not exist.
    if referral_id is None and target_type == _protected_label() and (
            not isinstance(target, tuple) or outcome == Outcome.OK):
        referral_id = int(target_id)
    return AuditRecord(actor=actor if getattr(actor, "is_authenticated", False) else None, action=action,
                       outcome=outcome, target_type=target_type, target_id=target_id, referral_id=referral_id)


def audit_record(*, actor, action, target, outcome=Outcome.OK, referral_id=None):
    """Record that `actor` did `action` on `target` (a model instance, a ``(label, id)`` pair, or None).

    One INSERT. `referral_id` ties a record about something inside a referral (a document) to the referral,
    so the referral cannot be deleted while the record exists; a referral as target is tied by itself.
    A referral given as ``(label, id)`` is tied only for a successful read; for a denied attempt it may not exist,
    so pass `referral_id` yourself when it does.
    """
    record = _record(actor, action, target, outcome, referral_id)
    record.save(force_insert=True)
    return record


def audit_record_many(*, actor, action, targets, outcome=Outcome.OK, also=()):
    """One record per target in one INSERT (lists, searches, exports); `also`: further ``(action, target)``
    records of the same actor and outcome in the same INSERT."""
    records = [_record(actor, action, target, outcome, None) for target in targets]
    records += [_record(actor, other_action, target, outcome, None) for other_action, target in also]
    if records:
        AuditRecord.objects.bulk_create(records)
    return len(records)


def audit_purge(*, anonymised, now=None):
    """Delete the records about targets anonymised more than 12 months ago; return how many were deleted.

    `anonymised`: an iterable of ``(target, anonymised_at)``, target as in ``audit_record``. Targets
    anonymised more recently are left alone (the caller may pass every anonymised target each night).
    Records tied to a purged referral through ``referral`` go too. The append-only trigger is bypassed for
    exactly this delete and nothing else.
    """
    cutoff = (now or timezone.now()) - RETENTION_AFTER_ANONYMISATION
    protected = _protected_label()
    by_type = {}
    referral_ids = []
    for target, anonymised_at in anonymised:
        if anonymised_at is None or anonymised_at > cutoff:
            continue
        target_type, target_id = _target_key(target)
        by_type.setdefault(target_type, []).append(target_id)
        if target_type == protected:
            referral_ids.append(int(target_id))
    if not by_type:
        return 0
    deleted = 0
    with transaction.atomic(), pgtrigger.ignore(PURGE_TRIGGER):
        for target_type, ids in by_type.items():
            deleted += AuditRecord.objects.filter(target_type=target_type, target_id__in=ids).delete()[0]
        if referral_ids:
            deleted += AuditRecord.objects.filter(referral_id__in=referral_ids).delete()[0]
    return deleted
