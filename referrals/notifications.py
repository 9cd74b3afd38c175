"""E-mails about referrals. Called on commit by the services; sent through Celery.

No client-identifying data in any e-mail: only the reference, what happened, and a link to the page
where the recipient acts.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from institutions.models import Role
from institutions.selectors import institution_members_with_role
from institutions.tasks import enqueue_email

from .templatetags.optima import chf


def _link(referral):
    return settings.SITE_URL.rstrip("/") + reverse("referrals:detail", args=[referral.pk])


def _addresses(users, exclude_user_id=None):
    return sorted({u.email for u in users if u.email and u.pk != exclude_user_id})


def _send(recipients, subject, lines, referral):
    if not recipients:
        return
    body = "\n\n".join([*lines, _("Open the referral: %(link)s") % {"link": _link(referral)},
                        _("This e-mail contains no client data on purpose. Please do not reply to it.")])
    enqueue_email(subject=subject, body=body, recipients=recipients)


def _referral(referral_id):
    from .models import Referral

    return Referral.objects.select_related(
        "referring_institution", "receiving_institution", "referring_case_worker", "assigned_case_worker"
    ).get(pk=referral_id)


def _party_case_workers(referral):
    return [u for u in (referral.referring_case_worker, referral.assigned_case_worker) if u is not None]


def referral_submitted(referral_id):
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        contacts = institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON)
        recipients = _addresses(contacts) or ([referral.receiving_institution.email]
                                              if referral.receiving_institution.email else [])
        _send(recipients, _("New OPTIMA referral %(ref)s") % {"ref": referral.reference},
              [_("%(institution)s has sent your institution an OPTIMA referral. Please decide whether you accept "
                 "it and assign a case worker, or reject it with a reason.")
               % {"institution": referral.referring_institution.name}], referral)


def referral_decided(referral_id):
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        _send(_addresses([referral.referring_case_worker]),
              _("OPTIMA referral %(ref)s: %(status)s") % {"ref": referral.reference,
                                                          "status": referral.get_status_display()},
              [_("%(institution)s has decided on your referral: %(status)s.")
               % {"institution": referral.receiving_institution.name, "status": referral.get_status_display()}],
              referral)


def referral_withdrawn(referral_id):
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        contacts = institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON)
        _send(_addresses(contacts), _("OPTIMA referral %(ref)s withdrawn") % {"ref": referral.reference},
              [_("The referring institution has withdrawn this referral. Nothing more to do.")], referral)


def referral_status_changed(referral_id, actor_id):
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        _send(_addresses(_party_case_workers(referral), actor_id),
              _("OPTIMA referral %(ref)s: %(status)s") % {"ref": referral.reference,
                                                          "status": referral.get_status_display()},
              [_("The status of this referral is now: %(status)s.") % {"status": referral.get_status_display()}],
              referral)


def comment_added(referral_id, actor_id):
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        recipients = list(_party_case_workers(referral))
        # A draft is not the receiver's yet: its contact persons hear of it only when it is sent.
        if referral.assigned_case_worker is None and referral.receiving_institution and referral.status != "draft":
            recipients += list(institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON))
        _send(_addresses(recipients, actor_id), _("OPTIMA referral %(ref)s: new question or comment")
              % {"ref": referral.reference}, [_("There is a new question or comment on this referral.")], referral)


def meeting_scheduled(referral_id, meeting_id, actor_id):
    from .models import Meeting

    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        meeting = Meeting.objects.get(pk=meeting_id)
        when = timezone.localtime(meeting.scheduled_at).strftime("%d.%m.%Y %H:%M") if meeting.scheduled_at else ""
        _send(_addresses(_party_case_workers(referral), actor_id),
              _("OPTIMA referral %(ref)s: %(meeting)s on %(when)s")
              % {"ref": referral.reference, "meeting": meeting.get_kind_display(), "when": when},
              [_("A meeting has been scheduled: %(meeting)s on %(when)s.")
               % {"meeting": meeting.get_kind_display(), "when": when}], referral)


def cost_approval_requested(cost_approval_id):
    from .models import CostApproval

    with translation.override(settings.LANGUAGE_CODE):
        approval = CostApproval.objects.select_related("referral", "financing_institution").get(pk=cost_approval_id)
        signatories = institution_members_with_role(approval.financing_institution, Role.SIGNATORY)
        _send(_addresses(signatories), _("OPTIMA referral %(ref)s: cost approval to sign")
              % {"ref": approval.referral.reference},
              [_("A cost approval (Kostengutsprache) over CHF %(amount)s waits for your signature or refusal.")
               % {"amount": chf(approval.amount_chf).removeprefix("CHF ")}], approval.referral)


def cost_approval_decided(cost_approval_id):
    from .models import CostApproval

    with translation.override(settings.LANGUAGE_CODE):
        approval = CostApproval.objects.select_related("referral", "requested_by").get(pk=cost_approval_id)
        _send(_addresses([approval.requested_by]), _("OPTIMA referral %(ref)s: cost approval %(status)s")
              % {"ref": approval.referral.reference, "status": approval.get_status_display()},
              [_("The cost approval for “%(measure)s” was decided: %(status)s.")
               % {"measure": approval.measure, "status": approval.get_status_display()}], approval.referral)


def consent_withdrawn(referral_id, actor_id):
    """Both sides are told that the client withdrew consent and the referral ended (issue 10)."""
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        recipients = list(_party_case_workers(referral))
        recipients += list(institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON))
        recipients += list(institution_members_with_role(referral.referring_institution, Role.CONTACT_PERSON))
        _send(_addresses(recipients, actor_id), _("OPTIMA referral %(ref)s: consent withdrawn")
              % {"ref": referral.reference},
              [_("The client has withdrawn consent. The referral has ended (%(status)s). From now on the receiving "
                 "institution sees only the pseudonymised case: no personal data, texts or documents.")
               % {"status": referral.get_status_display()}], referral)


def client_data_changed(referral_id, actor_id):
    """The other side learns that the client's personal data changed on this referral ("Personalien ändern")."""
    with translation.override(settings.LANGUAGE_CODE):
        referral = _referral(referral_id)
        _send(_addresses(_party_case_workers(referral), actor_id),
              _("OPTIMA referral %(ref)s: personal data changed") % {"ref": referral.reference},
              [_("The client's personal data on this referral was changed. The timeline shows what changed.")],
              referral)
