"""manage.py load_fee_defaults: the concept's case-fee configuration, for the demo and a first installation.

Rates per month (concept 5.1): IV 227 CHF until the end of 2024, 300 CHF from 2025 (interview 2025); RAV and
social services 125 CHF. Model A for social services -> IV from 2025 (the IV bills the social services today);
every other pair stays on model B. Does nothing where a configuration exists already.
"""

import datetime
from decimal import Decimal

from django.core.management.base import BaseCommand

from billing import services
from billing.models import FeeModelRule, FeeRate
from institutions.models import User


class Command(BaseCommand):
    help = "Load the concept's case-fee rates and models (only if none are configured)."

    def handle(self, *args, **options):
        if FeeRate.objects.exists() or FeeModelRule.objects.exists():
            self.stdout.write("Case fees are configured already; nothing loaded.")
            return
        admin = User.objects.filter(is_superuser=True).first() or User.objects.filter(
            memberships__is_admin=True).first()
        if admin is None:
            self.stdout.write("No administrator found; create one first.")
            return
        start, change = datetime.date(2019, 1, 1), datetime.date(2025, 1, 1)
        services.fee_rate_create(actor=admin, leader_kind="iv", monthly_rate_chf=Decimal("227.00"), valid_from=start)
        services.fee_rate_create(actor=admin, leader_kind="iv", monthly_rate_chf=Decimal("300.00"), valid_from=change)
        for kind in ("rav", "social"):
            services.fee_rate_create(actor=admin, leader_kind=kind, monthly_rate_chf=Decimal("125.00"),
                                     valid_from=start)
        services.fee_model_rule_create(actor=admin, referrer_kind="social", leader_kind="iv", model="A",
                                       valid_from=change)
        self.stdout.write("Loaded the concept's case-fee rates and model A for social services -> IV from 2025.")
