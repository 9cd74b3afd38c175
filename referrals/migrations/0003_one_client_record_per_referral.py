"""Every referral gets its own client record (issue 10: no silent overwrites).

Until now one Client row could be shared by several referrals of the same institution (same AHV number), so
a draft could rename the client of a referral already at the other institution. From now on each referral
owns its record; the same person is recognised by the AHV digest. This copies a shared row for every
referral but the oldest one.
"""

from django.db import migrations

COPIED = ("first_name", "last_name", "date_of_birth", "birth_year", "ahv_ciphertext", "ahv_digest",
          "municipality_id", "address", "phone", "email", "preferred_language")


def split_shared_clients(apps, schema_editor):
    Client = apps.get_model("referrals", "Client")
    Referral = apps.get_model("referrals", "Referral")
    seen = set()
    for referral in Referral.objects.select_related("client").order_by("created_at", "pk").iterator():
        if referral.client_id not in seen:
            seen.add(referral.client_id)
            continue
        original = referral.client
        copy = Client.objects.create(**{name: getattr(original, name) for name in COPIED})
        Referral.objects.filter(pk=referral.pk).update(client=copy)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0002_consent_withdrawal_and_retention")]

    operations = [migrations.RunPython(split_shared_clients, migrations.RunPython.noop)]
