"""Reads for the reports: snapshots and who receives the monthly report."""

from institutions.models import User
from institutions.selectors import user_sees_everything

from .models import ReportSnapshot


def can_see_reports(user):
    """The KPIs are for the IIZ coordinator and administrators only (issue 5)."""
    return bool(getattr(user, "is_authenticated", False)) and user_sees_everything(user)


def recent_snapshots(limit=10):
    return ReportSnapshot.objects.select_related("requested_by").order_by("-requested_at", "-id")[:limit]


def snapshot_for_user(user, pk):
    if not can_see_reports(user):
        return None
    return ReportSnapshot.objects.select_related("requested_by").filter(pk=pk).first()


def coordinator_addresses():
    """E-mail addresses of the active IIZ coordinators (the monthly report goes to them)."""
    users = User.objects.filter(is_active=True, memberships__is_coordinator=True).exclude(email="").distinct()
    return sorted({u.email for u in users})
