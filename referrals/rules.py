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
# Each criterion knows how to check itself against the answers (see CHECKS below): met, not met (with what to
# do) or unknown (with the question that settles it). The same evaluation produces the findings enforced on
# submit, so the live checklist and the server never disagree.
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

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"


def criteria_for(referrer_kind, receiver_kind):
    """The checklist shown while filing and deciding: the receiver's criteria plus the referrer-specific ones."""
    return [*ADMISSION_CRITERIA.get(receiver_kind, []), *REFERRER_CRITERIA.get((referrer_kind, receiver_kind), [])]


@dataclass
class Check:
    """One line of the live checklist: a criterion, its state and what settles or fixes it."""

    text: str
    state: str
    note: str = ""
    field: str = ""

    @property
    def met(self):
        return self.state == MET

    @property
    def not_met(self):
        return self.state == NOT_MET

    @property
    def unknown(self):
        return self.state == UNKNOWN


def _ask(question):
    return lambda ctx: (UNKNOWN, question, "")


def _recent(value, today, months):
    return bool(value) and value > today - relativedelta(months=months)


# (receiver kind or (referrer kind, receiver kind), index of the criterion) -> check(ctx) -> (state, note, field).
# ctx carries situation, referrer, receiver, problem_areas and today.
CHECKS = {
    (RAV, 0): _ask(_("Is the client willing, able and allowed to work, reliable and punctual? Clarify it in "
                     "the conversation; the RAV checks it at the handover meeting.")),
    (RAV, 1): _ask(_("Can the client work at least 20%? Clarify it with the client or a doctor's note.")),
    (RAV, 2): lambda ctx: (
        (UNKNOWN, _("The IV refers: confirm that the IV measures end with the handover and the pension question "
                    "is settled."), "")
        if ctx["referrer"].kind == IV and ctx["situation"].known_to_iv else
        (NOT_MET, _("An IV procedure or IV measures are ticked above. Wait for the IV's decision, or explain "
                    "in the justification why OPTIMA-ALV should start now."), "iv_procedure_running")
        if ctx["situation"].known_to_iv else
        (MET, _("No IV procedure or IV measures ticked above."), "")),
    (RAV, 3): lambda ctx: (
        (MET, _("The client is registered at the RAV."), "") if ctx["situation"].registered_at_rav else
        (UNKNOWN, _("Will the client register at the RAV? Registration is a condition for OPTIMA-ALV."), "")),
    (IV, 0): _ask(_("Is the client willing, able and allowed to work? Clarify it in the conversation.")),
    (IV, 1): _ask(_("Does the client consider themself able and willing to work? Ask the client.")),
    (IV, 2): _ask(_("Does the client need a lot of support, or do health problems make access to the labour "
                    "market difficult? Describe it in the mandate.")),
    (IV, 3): lambda ctx: (
        (NOT_MET, _("“An IV procedure is running” is ticked above. Then the IV already examines the case: "
                    "explain in the justification why OPTIMA-IV is needed, or untick it if it is wrong."),
         "iv_procedure_running")
        if ctx["situation"].iv_procedure_running else (MET, _("No running IV procedure ticked above."), "")),
    (IV, 4): lambda ctx: (
        (NOT_MET, _("The last IV rejection is less than 12 months ago: give a justification below."),
         "last_iv_rejection_on")
        if _recent(ctx["situation"].last_iv_rejection_on, ctx["today"], 12) else
        (MET, _("No IV rejection in the last 12 months."), "")),
    (IV, 5): lambda ctx: (
        (NOT_MET, _("Suspected health damage is ticked above: file a regular IV registration instead."),
         "iv_health_damage_suspected")
        if ctx["situation"].iv_health_damage_suspected else (MET, _("No IV-relevant health damage suspected."), "")),
    (SOCIAL, 0): lambda ctx: (
        (MET, _("Problem areas chosen."), "") if ctx["problem_areas"] else
        (NOT_MET, _("Choose at least one problem area in part 3."), "problem_areas")),
    (SOCIAL, 1): lambda ctx: (
        (MET, _("%(name)s offers integral case management.") % {"name": ctx["receiver"].name}, "")
        if ctx["receiver"].integral_case_management else
        (NOT_MET, _("%(name)s does not offer it: choose another social service.") % {"name": ctx["receiver"].name},
         "receiving_institution")),
    ((SOCIAL, RAV), 0): lambda ctx: (
        (NOT_MET, _("The client was registered at the RAV in the last 6 months: give a justification below."),
         "last_rav_registration_on")
        if _recent(ctx["situation"].last_rav_registration_on, ctx["today"], 6) else
        (MET, _("No RAV registration in the last 6 months entered."), "")),
    ((RAV, SOCIAL), 0): _ask(_("Will the client sign the agreement releasing them from job-search obligations? "
                               "Prepare it for the handover meeting.")),
}


def checklist_for(*, referrer, receiver, situation, problem_areas, today):
    """The checklist of the chosen pair, each criterion evaluated against the answers given so far."""
    ctx = {"referrer": referrer, "receiver": receiver, "situation": situation, "problem_areas": problem_areas,
           "today": today}
    keys = [(receiver.kind, i) for i in range(len(ADMISSION_CRITERIA.get(receiver.kind, [])))]
    keys += [((referrer.kind, receiver.kind), i)
             for i in range(len(REFERRER_CRITERIA.get((referrer.kind, receiver.kind), [])))]
    checks = []
    for key, text in zip(keys, criteria_for(referrer.kind, receiver.kind), strict=True):
        state, note, field_name = CHECKS[key](ctx)
        checks.append((key, Check(text=text, state=state, note=note, field=field_name)))
    return checks


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
    checklist: list = field(default_factory=list)

    @property
    def criteria_not_met(self):
        return [check for check in self.checklist if check.not_met]

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
    # Criteria guide, the receiver decides (DOMAIN.md): a criterion not met blocks sending only where the
    # concept makes it a hard stop or a warning needing a justification (the findings below).
    result.checklist = [check for _key, check in checklist_for(
        referrer=referrer, receiver=receiver, situation=situation, problem_areas=problem_areas, today=today)]
    if receiver.kind == IV and situation.iv_health_damage_suspected:
        result.hard_stops.append(Finding(
            "iv_health_damage",
            _("Suspected IV-relevant health damage is not an OPTIMA case. The right way is a regular IV "
              "registration (IV-Anmeldung) with WAS IV Luzern, which the client or your institution can file."),
            "iv_health_damage_suspected"))
    if receiver.kind == IV and _recent(situation.last_iv_rejection_on, today, 12):
        result.warnings.append(Finding(
            "iv_rejection_recent",
            _("The last IV rejection is less than 12 months ago. The IV usually rejects such referrals; "
              "explain why an exception is justified."), "last_iv_rejection_on"))
    if referrer.kind == SOCIAL and receiver.kind == RAV and _recent(situation.last_rav_registration_on, today, 6):
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
