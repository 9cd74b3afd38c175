"""The rules of OPTIMA as data and pure functions: process, target group, criteria, hard stops, warnings.

Nothing here touches the database, so the live form, the services and the API all share one answer.
"""

from dataclasses import dataclass, field
from datetime import date

from dateutil.relativedelta import relativedelta
from django.utils.translation import gettext_lazy as _

from institutions.models import InstitutionKind

from .models import Process

RAV, IV, SOCIAL = InstitutionKind.RAV, InstitutionKind.IV, InstitutionKind.SOCIAL

PROCESS_BY_RECEIVER_KIND = {RAV: Process.OPTIMA_ALV, IV: Process.OPTIMA_IV, SOCIAL: Process.OPTIMA_SH}


@dataclass(frozen=True)
class Situation:
    """The client's situation today, as recorded on the application."""

    in_social_counselling: bool = False
    economic_social_assistance: bool = False
    registered_at_rav: bool = False
    receives_unemployment_benefits: bool = False
    in_iv_integration: bool = False
    iv_procedure_running: bool = False
    iv_health_damage_suspected: bool = False
    last_iv_rejection_on: date | None = None
    last_rav_registration_on: date | None = None

    FIELDS = (
        "in_social_counselling", "economic_social_assistance", "registered_at_rav",
        "receives_unemployment_benefits", "in_iv_integration", "iv_procedure_running",
        "iv_health_damage_suspected", "last_iv_rejection_on", "last_rav_registration_on",
    )

    @classmethod
    def from_referral(cls, referral):
        return cls(**{name: getattr(referral, name) for name in cls.FIELDS})

    @property
    def receives_social_assistance(self):
        # Personal (counselling) or economic social assistance.
        return self.in_social_counselling or self.economic_social_assistance

    @property
    def known_to_rav(self):
        return self.registered_at_rav or self.receives_unemployment_benefits

    @property
    def known_to_iv(self):
        return self.in_iv_integration or self.iv_procedure_running

    @property
    def iv_procedure_running_or_completed(self):
        return self.iv_procedure_running or self.in_iv_integration or self.last_iv_rejection_on is not None


# (referrer kind, receiver kind) -> function of the situation giving the target group (concept chapter 4).
TARGET_GROUP_RULES = {
    (IV, RAV): lambda s: "B" if s.receives_unemployment_benefits else "A",
    (RAV, IV): lambda s: "B" if s.iv_procedure_running_or_completed else "F",
    (IV, SOCIAL): lambda s: "D" if s.receives_social_assistance else "C",
    (SOCIAL, IV): lambda s: "D" if s.iv_procedure_running else "E",
    (RAV, SOCIAL): lambda s: "I" if s.receives_social_assistance else "G",
    (SOCIAL, RAV): lambda s: "I" if s.receives_unemployment_benefits else "H",
    (SOCIAL, SOCIAL): lambda s: "",
}

TARGET_GROUP_DESCRIPTIONS = {
    "A": _("IV clients without unemployment benefits, handed to the RAV"),
    "B": _("Clients known to both the IV and the unemployment insurance"),
    "C": _("IV clients without social assistance, handed to social services"),
    "D": _("Clients known to both the IV and social services"),
    "E": _("Social assistance clients without an IV procedure, handed to the IV"),
    "F": _("RAV clients without an IV procedure, handed to the IV"),
    "G": _("RAV clients without social assistance, handed to social services"),
    "H": _("Social assistance clients without unemployment benefits, handed to the RAV"),
    "I": _("Clients known to both the RAV and social services"),
}


def derive_process(receiver_kind):
    return PROCESS_BY_RECEIVER_KIND.get(receiver_kind, "")


def derive_target_group(referrer_kind, receiver_kind, situation):
    """The target group A-I, '' for social -> social, None when the pair is not an OPTIMA flow."""
    rule = TARGET_GROUP_RULES.get((referrer_kind, receiver_kind))
    return rule(situation) if rule else None


# Admission criteria shown as a checklist while filing and while deciding (concept 3.2.1-3.2.3).
ADMISSION_CRITERIA = {
    RAV: [
        _("Intact work offer: the client is willing, able and allowed to work (vermittlungsfähig), "
          "with reliability and punctuality (Sekundärtugenden)."),
        _("The client can work at least 20%."),
        _("No IV assessment or IV measures running, the pension question is settled, no legal proceedings "
          "with the IV pending."),
        _("The client registers at the RAV."),
    ],
    IV: [
        _("Intact work offer: the client is willing, able and allowed to work."),
        _("The client considers themself able and willing to work."),
        _("High need for support, or health-related difficult access to the labour market."),
        _("No IV procedure running."),
        _("An IV rejection must be more than 12 months ago (exceptions need a justification)."),
        _("Suspected IV-relevant health damage is not an OPTIMA case: register the client with the IV regularly."),
    ],
    SOCIAL: [
        _("At least one problem area (addiction, family conflict, missing childcare, distressing events, debts)."),
        _("The social service offers integral case management."),
    ],
}

# Criteria that apply only to one referring kind (concept 3.2.1 and 3.2.3).
REFERRER_CRITERIA = {
    (SOCIAL, RAV): [
        _("Social services: usually no referral of someone registered at the RAV in the last 6 months."),
    ],
    (RAV, SOCIAL): [
        _("From the RAV: the client signs an agreement releasing them from job-search obligations."),
    ],
}


def criteria_for(referrer_kind, receiver_kind):
    """The checklist shown while filing and deciding: the receiver's criteria plus the referrer-specific ones."""
    return [*ADMISSION_CRITERIA.get(receiver_kind, []), *REFERRER_CRITERIA.get((referrer_kind, receiver_kind), [])]


@dataclass
class Finding:
    code: str
    message: str
    field: str = ""


@dataclass
class Assessment:
    """What the rules say about a referral as it stands: shown live while filing, enforced on submit."""

    process: str = ""
    target_group: str | None = None
    hard_stops: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    criteria: list = field(default_factory=list)

    @property
    def needs_justification(self):
        return bool(self.warnings)

    @property
    def target_group_description(self):
        return TARGET_GROUP_DESCRIPTIONS.get(self.target_group or "", "")

    def blocking(self, justification=""):
        """Everything that stops a submission, given the justification the user wrote."""
        blocking = self.missing + self.hard_stops
        if self.warnings and not (justification or "").strip():
            blocking = blocking + [
                Finding("justification_required",
                        _("Please justify in a few words why this referral should go ahead despite the warnings."),
                        "justification")
            ]
        return blocking


def assess(*, referrer, receiver, situation, client_complete, mandate, problem_areas, planned_duration_months,
           consent_given_on, consent_form, today):
    """Assess an application. `referrer`/`receiver` are Institution objects (receiver may be None)."""
    result = Assessment()
    if not client_complete:
        result.missing.append(Finding("client_missing", _("Enter the client's first and last name, date of birth, "
                                                          "AHV number and municipality."), "client"))
    if receiver is None:
        result.missing.append(Finding("receiver_missing", _("Choose the institution that should take over."),
                                      "receiving_institution"))
    if not (mandate or "").strip():
        result.missing.append(Finding("mandate_missing", _("Describe the mandate: what should the receiving "
                                                           "institution achieve?"), "mandate"))
    if not planned_duration_months:
        result.missing.append(Finding("duration_missing", _("Enter the planned duration in months (usually 3 or 6)."),
                                      "planned_duration_months"))
    if not consent_given_on or not consent_form:
        result.hard_stops.append(Finding(
            "no_consent", _("OPTIMA is voluntary: record when and how the client agreed to the referral."), "consent"))
    elif consent_given_on > today:
        result.missing.append(Finding("consent_in_future", _("The date of consent cannot be in the future."),
                                      "consent_given_on"))
    _assess_situation(result, situation, today)
    if receiver is not None:
        _assess_receiver(result, referrer, receiver, situation, problem_areas, today)
    return result


def _assess_situation(result, situation, today):
    if situation.known_to_rav and situation.known_to_iv and situation.receives_social_assistance:
        result.warnings.append(Finding(
            "iiz_case",
            _("The client is involved with the RAV, the IV and social services at once. That is usually an IIZ case "
              "run by the IIZ coordination, not OPTIMA: please talk to the IIZ coordinator first."),
        ))
    for name in ("last_iv_rejection_on", "last_rav_registration_on"):
        value = getattr(situation, name)
        if value and value > today:
            result.missing.append(Finding("date_in_future", _("This date cannot be in the future."), name))


def _assess_receiver(result, referrer, receiver, situation, problem_areas, today):
    result.process = derive_process(receiver.kind)
    result.criteria = criteria_for(referrer.kind, receiver.kind)
    if receiver.pk == referrer.pk:
        result.hard_stops.append(Finding(
            "own_institution", _("A referral goes to another institution, not to your own."), "receiving_institution"))
        return
    target_group = derive_target_group(referrer.kind, receiver.kind, situation)
    if target_group is None:
        result.hard_stops.append(Finding(
            "same_kind",
            _("OPTIMA hands a case to an institution of another kind (RAV, IV, social services); only social "
              "services may refer to each other."), "receiving_institution"))
        return
    result.target_group = target_group
    if receiver.kind == IV and situation.iv_health_damage_suspected:
        result.hard_stops.append(Finding(
            "iv_health_damage",
            _("Suspected IV-relevant health damage is not an OPTIMA case. The right way is a regular IV "
              "registration (IV-Anmeldung) with WAS IV Luzern, which the client or your institution can file."),
            "iv_health_damage_suspected"))
    if receiver.kind == IV and situation.last_iv_rejection_on and \
            situation.last_iv_rejection_on > today - relativedelta(months=12):
        result.warnings.append(Finding(
            "iv_rejection_recent",
            _("The last IV rejection is less than 12 months ago. The IV usually rejects such referrals; "
              "explain why an exception is justified."), "last_iv_rejection_on"))
    if referrer.kind == SOCIAL and receiver.kind == RAV and situation.last_rav_registration_on and \
            situation.last_rav_registration_on > today - relativedelta(months=6):
        result.warnings.append(Finding(
            "rav_registration_recent",
            _("The client was registered at the RAV in the last 6 months. Social services usually do not refer "
              "such clients; explain why the referral makes sense."), "last_rav_registration_on"))
    if receiver.kind == SOCIAL:
        if not receiver.integral_case_management:
            result.hard_stops.append(Finding(
                "no_integral_case_management",
                _("%(name)s does not offer integral case management, so OPTIMA-SH is not possible there. "
                  "Choose another social service.") % {"name": receiver.name}, "receiving_institution"))
        if not problem_areas:
            result.missing.append(Finding(
                "problem_areas_missing", _("Choose at least one problem area for a referral to social services."),
                "problem_areas"))
