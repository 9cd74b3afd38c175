"""E-mails about referrals. Called by the services inside their transaction; each mail is written to the
outbox (outbox.services.message_enqueue) together with the change, and sent by the outbox's worker.

Every recipient reads the mail in their own language (issue 12): `_deliver` writes one message per language.
No client-identifying data in any e-mail: only the reference, what happened, and a link to the page
where the recipient acts.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from institutions.models import Role, User
from institutions.selectors import institution_members_with_role
from outbox.services import attachment, message_enqueue

from . import calendar
from .templatetags.optima import chf


def _link(referral):
    return settings.SITE_URL.rstrip("/") + reverse("referrals:detail", args=[referral.pk])


def _recipients(users, exclude_user_id=None):
    """The users to write to: with an e-mail address, not the actor, each address once."""
    seen, result = set(), []
    for user in users:
        if user is not None and user.email and user.pk != exclude_user_id and user.email not in seen:
            seen.add(user.email)
            result.append(user)
    return result


def _send(recipients, subject, lines, referral, attachments=None):
    if not recipients:
        return
    body = "\n\n".join([*lines, _("Open the referral: %(link)s") % {"link": _link(referral)},
                        _("This e-mail contains no client data on purpose. Please do not reply to it.")])
    message_enqueue(subject=subject, body=body, recipients=recipients, attachments=attachments)


def _by_language(recipients):
    """{language: {addresses}}: users by their `language` (German when unset), bare addresses (an institution's
    shared mailbox) in German."""
    by_language = {}
    for recipient in recipients:
        if isinstance(recipient, str):
            email, language = recipient, settings.LANGUAGE_CODE
        else:
            email, language = recipient.email, getattr(recipient, "language", "") or settings.LANGUAGE_CODE
        if email:
            by_language.setdefault(language, set()).add(email)
    return by_language


def _deliver(recipients, referral, build, attachments=None):
    """One e-mail per language; `build()` returns (subject, lines) and runs with that language active."""
    by_language = _by_language(recipients)
    for language in sorted(by_language):
        with translation.override(language):
            subject, lines = build()
            _send(sorted(by_language[language]), subject, lines, referral, attachments=attachments)


def _referral(referral_id):
    from .models import Referral

    return Referral.objects.select_related(
        "referring_institution", "receiving_institution", "referring_case_worker", "assigned_case_worker"
    ).get(pk=referral_id)


def _party_case_workers(referral):
    return [u for u in (referral.referring_case_worker, referral.assigned_case_worker) if u is not None]


def referral_submitted(referral_id):
    referral = _referral(referral_id)
    contacts = _recipients(institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON))
    recipients = contacts or ([referral.receiving_institution.email] if referral.receiving_institution.email else [])
    _deliver(recipients, referral, lambda: (
        _("New OPTIMA referral %(ref)s") % {"ref": referral.reference},
        [_("%(institution)s has sent your institution an OPTIMA referral. Please decide whether you accept "
           "it and assign a case worker, or reject it with a reason.")
         % {"institution": referral.referring_institution.name}]))


def referral_decided(referral_id):
    referral = _referral(referral_id)
    _deliver(_recipients([referral.referring_case_worker]), referral, lambda: (
        _("OPTIMA referral %(ref)s: %(status)s") % {"ref": referral.reference,
                                                    "status": referral.get_status_display()},
        [_("%(institution)s has decided on your referral: %(status)s.")
         % {"institution": referral.receiving_institution.name, "status": referral.get_status_display()}]))


def referral_withdrawn(referral_id):
    referral = _referral(referral_id)
    contacts = institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON)
    _deliver(_recipients(contacts), referral, lambda: (
        _("OPTIMA referral %(ref)s withdrawn") % {"ref": referral.reference},
        [_("The referring institution has withdrawn this referral. Nothing more to do.")]))


def referral_status_changed(referral_id, actor_id):
    referral = _referral(referral_id)
    _deliver(_recipients(_party_case_workers(referral), actor_id), referral, lambda: (
        _("OPTIMA referral %(ref)s: %(status)s") % {"ref": referral.reference,
                                                    "status": referral.get_status_display()},
        [_("The status of this referral is now: %(status)s.") % {"status": referral.get_status_display()}]))


def comment_added(referral_id, actor_id):
    referral = _referral(referral_id)
    recipients = list(_party_case_workers(referral))
    # A draft is not the receiver's yet: its contact persons hear of it only when it is sent.
    if referral.assigned_case_worker is None and referral.receiving_institution and referral.status != "draft":
        recipients += list(institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON))
    _deliver(_recipients(recipients, actor_id), referral, lambda: (
        _("OPTIMA referral %(ref)s: new question or comment") % {"ref": referral.reference},
        [_("There is a new question or comment on this referral.")]))


def meeting_scheduled(referral_id, meeting_id, actor_id):
    from .models import Meeting

    referral = _referral(referral_id)
    meeting = Meeting.objects.get(pk=meeting_id)
    when = timezone.localtime(meeting.scheduled_at).strftime("%d.%m.%Y %H:%M") if meeting.scheduled_at else ""
    invitation = ([attachment(filename=f"{referral.reference}.ics", content=calendar.meeting_ics(meeting),
                              content_type="text/calendar")] if meeting.scheduled_at else None)
    _deliver(_recipients(_party_case_workers(referral), actor_id), referral, lambda: (
        _("OPTIMA referral %(ref)s: %(meeting)s on %(when)s")
        % {"ref": referral.reference, "meeting": meeting.get_kind_display(), "when": when},
        [_("A meeting has been scheduled: %(meeting)s on %(when)s.")
         % {"meeting": meeting.get_kind_display(), "when": when},
         _("The calendar invitation is attached (open it to add the meeting to Outlook).")]),
        attachments=invitation)


def cost_approval_requested(cost_approval_id):
    from .models import CostApproval

    approval = CostApproval.objects.select_related("referral", "financing_institution").get(pk=cost_approval_id)
    signatories = institution_members_with_role(approval.financing_institution, Role.SIGNATORY)
    _deliver(_recipients(signatories), approval.referral, lambda: (
        _("OPTIMA referral %(ref)s: cost approval to sign") % {"ref": approval.referral.reference},
        [_("A cost approval (Kostengutsprache) over CHF %(amount)s waits for your signature or refusal.")
         % {"amount": chf(approval.amount_chf).removeprefix("CHF ")}]))


def cost_approval_decided(cost_approval_id):
    from .models import CostApproval

    approval = CostApproval.objects.select_related("referral", "requested_by").get(pk=cost_approval_id)
    _deliver(_recipients([approval.requested_by]), approval.referral, lambda: (
        _("OPTIMA referral %(ref)s: cost approval %(status)s")
        % {"ref": approval.referral.reference, "status": approval.get_status_display()},
        # The measure's text may name the client: the mail says only what was decided.
        [_("A cost approval of this referral was decided: %(status)s.")
         % {"status": approval.get_status_display()}]))


def consent_withdrawn(referral_id, actor_id):
    """Both sides are told that the client withdrew consent and the referral ended (issue 10)."""
    referral = _referral(referral_id)
    recipients = list(_party_case_workers(referral))
    recipients += list(institution_members_with_role(referral.receiving_institution, Role.CONTACT_PERSON))
    recipients += list(institution_members_with_role(referral.referring_institution, Role.CONTACT_PERSON))
    _deliver(_recipients(recipients, actor_id), referral, lambda: (
        _("OPTIMA referral %(ref)s: consent withdrawn") % {"ref": referral.reference},
        [_("The client has withdrawn consent. The referral has ended (%(status)s). From now on the receiving "
           "institution sees only the pseudonymised case: no personal data, texts or documents.")
         % {"status": referral.get_status_display()}]))


def reminder(referral_id, user_ids, *, action_label, due_on, escalation=False):
    """A reminder of the reminders app: what is waiting, since when it is due, who should act."""
    referral = _referral(referral_id)
    users = User.objects.filter(pk__in=user_ids)

    def build():
        subject = (_("OPTIMA referral %(ref)s: overdue, please act (escalation)") if escalation
                   else _("OPTIMA referral %(ref)s: reminder")) % {"ref": referral.reference}
        return subject, [
            _("Referral %(ref)s from %(from)s to %(to)s is waiting: %(action)s. It was due on %(due)s.")
            % {"ref": referral.reference, "from": referral.referring_institution.name,
               "to": referral.receiving_institution.name if referral.receiving_institution else "-",
               "action": str(action_label), "due": due_on.strftime("%d.%m.%Y")}]

    _deliver(_recipients(users), referral, build)


def reminder_digest(user_id, items):
    """One daily mail for a user who chose the digest: one line per reminder (reference, what, due, link)."""
    from .models import Referral

    user = User.objects.get(pk=user_id)
    if not user.email:
        return
    references = dict(Referral.objects.filter(pk__in=[i[0] for i in items]).values_list("pk", "reference"))
    with translation.override(getattr(user, "language", "") or settings.LANGUAGE_CODE):
        lines = [_("These OPTIMA referrals are waiting for you:")]
        for referral_id, label, due_on, escalation in items:
            link = settings.SITE_URL.rstrip("/") + reverse("referrals:detail", args=[referral_id])
            lines.append(_("- %(ref)s: %(action)s (due %(due)s%(esc)s) %(link)s") % {
                "ref": references.get(referral_id, ""), "action": str(label), "due": due_on.strftime("%d.%m.%Y"),
                "esc": _(", escalated") if escalation else "", "link": link})
        lines.append(_("This e-mail contains no client data on purpose. Please do not reply to it."))
        message_enqueue(subject=_("OPTIMA: %(count)s reminder(s) for today") % {"count": len(items)},
                        body="\n\n".join(lines), recipients=[user.email])


def invoice_forwarded(invoice_id):
    from .models import Invoice

    invoice = Invoice.objects.select_related("referral", "financing_institution").get(pk=invoice_id)
    signatories = institution_members_with_role(invoice.financing_institution, Role.SIGNATORY)
    _deliver(_recipients(signatories), invoice.referral, lambda: (
        _("OPTIMA referral %(ref)s: invoice forwarded to you") % {"ref": invoice.referral.reference},
        [_("The leading institution has forwarded a provider invoice over CHF %(amount)s. Please confirm "
           "that it has arrived.") % {"amount": chf(invoice.amount_chf).removeprefix("CHF ")}]))


def client_data_changed(referral_id, actor_id):
    """The other side learns that the client's personal data changed on this referral ("Personalien ändern")."""
    referral = _referral(referral_id)
    _deliver(_recipients(_party_case_workers(referral), actor_id), referral, lambda: (
        _("OPTIMA referral %(ref)s: personal data changed") % {"ref": referral.reference},
        [_("The client's personal data on this referral was changed. The timeline shows what changed.")]))
