"""E-mails about case-fee statements: a link only, no amounts per client and no client data.

Written to the outbox (outbox.services.message_enqueue) like referrals/notifications.py, so the outbox
(issue 13) can take both over in one place.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from institutions.models import Role
from institutions.selectors import institution_members_with_role
from outbox.services import message_enqueue


def statement_issued(statement_id):
    from .models import FeeStatement

    with translation.override(settings.LANGUAGE_CODE):
        statement = FeeStatement.objects.select_related("billing_institution", "billed_institution").get(
            pk=statement_id)
        recipients = sorted({u.email for u in institution_members_with_role(statement.billed_institution,
                                                                            Role.SIGNATORY) if u.email})
        if not recipients:
            return
        link = settings.SITE_URL.rstrip("/") + reverse("billing:statement", args=[statement.pk])
        kind = _("correction statement") if statement.corrects_id else _("statement")
        body = "\n\n".join([
            _("%(institution)s has issued a case-fee %(kind)s (%(number)s) for %(month)s to your institution.")
            % {"institution": statement.billing_institution.name, "kind": kind, "number": statement.number,
               "month": statement.month.strftime("%m.%Y")},
            _("Open the statement (PDF, XLSX and CSV): %(link)s") % {"link": link},
            _("This e-mail contains no client data on purpose. Please do not reply to it."),
        ])
        message_enqueue(subject=_("OPTIMA case fees: %(kind)s %(number)s") % {"kind": kind, "number": statement.number},
                        body=body, recipients=recipients)
