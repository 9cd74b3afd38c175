# The active spans of the cases already there, from the same meetings the earlier computation grouped. A
# migration of its own: the columns (0007) are committed first, so the referral table is not locked for the
# whole fill (1 min 48 s at 1 M referrals; only the started cases' rows are written meanwhile).

from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery


def fill_active_spans(apps, schema_editor):
    """active_from: the first agreed handover meeting; active_until: the closing meeting, else (a case the client
    ended) the day consent was withdrawn. Only started cases (active or closed) have a span."""
    Referral = apps.get_model("referrals", "Referral")
    Meeting = apps.get_model("referrals", "Meeting")
    started = Referral.objects.filter(status__in=["active", "closed"])
    held = Meeting.objects.filter(referral=OuterRef("pk"), held_on__isnull=False)
    started.update(
        active_from=Subquery(held.filter(kind="handover", all_agreed=True).order_by("held_on").values("held_on")[:1]),
        active_until=Subquery(held.filter(kind="status", decision="close").order_by("-held_on").values("held_on")[:1]))
    (started.filter(status="closed", active_until__isnull=True).filter(~Q(consent_withdrawn_on=None))
     .update(active_until=models.F("consent_withdrawn_on")))


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0007_case_active_span'),
    ]

    operations = [
        migrations.RunPython(fill_active_spans, migrations.RunPython.noop, elidable=True),
    ]
