"""Who may do what to a referral - by institution and role only; the status is the services' concern.

Visibility (DOMAIN.md, data protection): a user sees a referral only if their institution sends it or
receives it (the receiver only once it has been submitted); the coordinator and administrators see all.
"""

from institutions.models import Role
from institutions.selectors import user_has_role, user_institution_ids, user_sees_everything

from .models import Status


def is_referrer_member(user, referral):
    return referral.referring_institution_id in user_institution_ids(user)


def is_receiver_member(user, referral):
    return (
        referral.receiving_institution_id is not None
        and referral.status != Status.DRAFT
        and referral.receiving_institution_id in user_institution_ids(user)
    )


def is_party(user, referral):
    return is_referrer_member(user, referral) or is_receiver_member(user, referral)


def can_view(user, referral):
    return is_party(user, referral) or user_sees_everything(user)


def _works_cases_at(user, institution):
    """Case workers and contact persons work cases; a signatory-only or coordinator membership does not."""
    return institution is not None and (
        user_has_role(user, Role.CASE_WORKER, institution) or user_has_role(user, Role.CONTACT_PERSON, institution)
    )


def works_for_referrer(user, referral):
    return is_referrer_member(user, referral) and _works_cases_at(user, referral.referring_institution)


def works_for_receiver(user, referral):
    return is_receiver_member(user, referral) and _works_cases_at(user, referral.receiving_institution)


def can_edit_draft(user, referral):
    return works_for_referrer(user, referral)


def can_withdraw(user, referral):
    return works_for_referrer(user, referral)


def can_decide(user, referral):
    """Only the receiving institution's OPTIMA contact persons accept or reject."""
    return is_receiver_member(user, referral) and user_has_role(
        user, Role.CONTACT_PERSON, referral.receiving_institution
    )


def can_comment(user, referral):
    return works_for_referrer(user, referral) or works_for_receiver(user, referral)


def can_work_case(user, referral):
    """Case workers of either party run the meetings (handover: both sides take part)."""
    return works_for_referrer(user, referral) or works_for_receiver(user, referral)


def can_lead_case(user, referral):
    """The receiving institution leads an accepted case: status meetings and cost approval requests."""
    return works_for_receiver(user, referral)


def can_sign_cost_approval(user, cost_approval):
    """Only a signatory of the financing institution signs or refuses."""
    return user_has_role(user, Role.SIGNATORY, cost_approval.financing_institution)


def can_confirm_invoice(user, invoice):
    """Only a signatory of the financing institution confirms an invoice's receipt."""
    return user_has_role(user, Role.SIGNATORY, invoice.financing_institution)


def can_upload_document(user, referral):
    return can_work_case(user, referral)
