from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL: the audit trail is the largest table and every page view writes to
    it, so a plain CREATE INDEX would hold every page until the index is built. Elsewhere (SQLite) a plain one."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("audit", "0002_copy_access_log"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="auditrecord",
            index=models.Index(condition=models.Q(("action", "view"), ("outcome", "ok")),
                               fields=["referral", "actor", "at"], name="audit_opened_case"),
        ),
    ]
