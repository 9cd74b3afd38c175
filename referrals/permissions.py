"""Who may do what to a referral - by institution and role only; the status is the services' concern.

Visibility (DOMAIN.md, data protection): a user sees a referral only if their institution sends it or
receives it (the receiver only once it has been submitted); the coordinator and administrators see all.

Need to know (issue 9): the client's identity (name, date of birth, AHV, contact, address), the free texts and
the documents are for the parties only - case workers, contact persons and signatories of one of the two
institutions (``can_see_client_identity``). The coordinator and administrators see a pseudonymised case:
reference, institutions, status, process, target group, dates, durations and codes.
"""

from institutions.models import Membership, Role
from institutions.selectors import user_has_role, user_institution_ids, user_memberships, user_sees_everything

from .models import Status

# The roles that work a case and so need to know whom it is about.
PARTY_ROLES = (Role.CASE_WORKER, Role.CONTACT_PERSON, Role.SIGNATORY)


def is_referrer_member(user, referral):
    return referral.referring_institution_id in user_institution_ids(user)


def is_receiver_member(user, referral):
    return (
        referral.receiving_institution_id is not None
        and referral.status != Status.DRAFT
        and referral.receiving_institution_id in user_institution_ids(user)
    )


def party_institution_ids(user):
    """Institutions where the user holds a party role (a coordinator-only membership does not count)."""
    return {m.institution_id for m in user_memberships(user)
            if any(getattr(m, Membership.ROLE_FIELDS[role]) for role in PARTY_ROLES)}


def is_party(user, referral):
    """A case worker, contact person or signatory of the referring or (once submitted) the receiving institution."""
    institution_ids = party_institution_ids(user)
    return referral.referring_institution_id in institution_ids or (
        referral.receiving_institution_id in institution_ids and referral.status != Status.DRAFT)


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
    return can_work_case(user, referral) and not consent_withdrawal_hides_identity(user, referral)


def consent_withdrawal_hides_identity(user, referral):
    """Once the client withdrew consent, the receiving institution sees only the pseudonymised case
    (codes, dates): no identity, no free texts, no documents. The referrer keeps its own client."""
    # Party roles only: a data-protection or coordinator membership at the referrer is no need to know the client.
    parties = party_institution_ids(user)
    return (
        referral.consent_withdrawn_on is not None
        and referral.receiving_institution_id in parties
        and referral.referring_institution_id not in parties
    )


def can_see_client_identity(user, referral):
    """Name, date of birth, AHV, contact, address, free texts and documents: for the parties only (need to know),
    and not for the receiving institution once the client withdrew consent."""
    return is_party(user, referral) and not consent_withdrawal_hides_identity(user, referral)


def can_change_personal_data(user, referral):
    """'Personalien ändern' after submission: a case worker of either party who may see the client."""
    return can_work_case(user, referral) and can_see_client_identity(user, referral)


def can_withdraw_consent(user, referral):
    """Either party records that the client withdrew consent."""
    return can_work_case(user, referral)
