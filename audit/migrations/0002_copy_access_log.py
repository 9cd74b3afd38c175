"""Move the rows of the old referrals.AccessLog into the audit trail (issue 9); the old table goes next."""

from django.db import migrations


def copy_access_log(apps, schema_editor):
    AccessLog = apps.get_model("referrals", "AccessLog")
    AuditRecord = apps.get_model("audit", "AuditRecord")
    batch = []
    for row in AccessLog.objects.order_by("id").iterator(chunk_size=2000):
        batch.append(AuditRecord(at=row.at, actor_id=row.user_id, action=row.action, outcome="ok",
                                 target_type="referrals.referral", target_id=str(row.referral_id),
                                 referral_id=row.referral_id))
        if len(batch) >= 2000:
            AuditRecord.objects.bulk_create(batch)
            batch = []
    AuditRecord.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_audit_record"),
        ("referrals", "0001_initial"),
    ]

    operations = [migrations.RunPython(copy_access_log, migrations.RunPython.noop)]
