"""Reads of the audit trail: only for the data-protection role."""

from django.apps import apps
from django.db.models import Q

from institutions.models import Role
from institutions.selectors import user_has_role

from .models import AuditRecord


def can_read_audit(user):
    """The audit trail is read by the data-protection officer (Datenschutz) and nobody else."""
    return getattr(user, "is_authenticated", False) and user_has_role(user, Role.DATA_PROTECTION)


def protected_model():
    return AuditRecord._meta.get_field("referral").related_model


def audit_records(*, referral_id=None, actor=None, since=None, until=None):
    """Records, newest first, filtered by referral (tied or as target), user (object or id) and period."""
    queryset = AuditRecord.objects.select_related("actor")
    if referral_id is not None:
        queryset = queryset.filter(Q(referral_id=referral_id) | Q(
            target_type=protected_model()._meta.label_lower, target_id=str(referral_id)))
    if actor is not None:
        queryset = queryset.filter(actor_id=getattr(actor, "pk", actor))
    if since is not None:
        queryset = queryset.filter(at__gte=since)
    if until is not None:
        queryset = queryset.filter(at__lt=until)
    return queryset.order_by("-at", "-id")


def target_labels(records):
    """{(target_type, target_id): str(target)} for the records' targets: one query per target type."""
    wanted = {}
    for record in records:
        if record.target_type and record.target_id:
            wanted.setdefault(record.target_type, set()).add(record.target_id)
    labels = {}
    for target_type, ids in wanted.items():
        try:
            model = apps.get_model(target_type)
        except (LookupError, ValueError):
            continue
        numeric = [int(i) for i in ids if i.isdigit()]
        for obj in model._default_manager.filter(pk__in=numeric):
            labels[target_type, str(obj.pk)] = str(obj)
    return labels
