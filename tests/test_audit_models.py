"""The audit trail's table: what its indexes are for (audit/models.py)."""

import pytest
from django.db import connection

from audit.models import AuditRecord


@pytest.mark.django_db
def test_opened_case_pages_have_an_index_by_referral_and_user():
    """The start page asks, per rejected or withdrawn referral, whether the user opened it since: one probe in
    this index instead of reading every record of the user (a list view writes up to 50)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, AuditRecord._meta.db_table)
    assert constraints["audit_opened_case"]["columns"] == ["referral_id", "actor_id", "at"]
    index = next(i for i in AuditRecord._meta.indexes if i.name == "audit_opened_case")
    assert dict(index.condition.children) == {"action": "view", "outcome": "ok"}
