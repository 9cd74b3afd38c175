"""The rules of OPTIMA (referrals.rules): pure functions, no database.

Target groups follow DOMAIN.md's table; hard stops and warnings follow the admission criteria.
"""

import datetime

import pytest

from institutions.models import Institution, InstitutionKind
from referrals.models import Process
from referrals.rules import (
    ADMISSION_CRITERIA,
    Assessment,
    Finding,
    Situation,
    assess,
    criteria_for,
    derive_process,
    derive_target_group,
)

RAV, IV, SOCIAL = InstitutionKind.RAV, InstitutionKind.IV, InstitutionKind.SOCIAL
TODAY = datetime.date(2026, 3, 15)


pytestmark = pytest.mark.usefixtures("english")  # assertions read the English source texts


def institution(pk, kind, name=None, integral_case_management=True):
    """An unsaved institution: the rules read only pk, kind, name and integral_case_management."""
    return Institution(pk=pk, key=f"i{pk}", name=name or f"{kind} {pk}", kind=kind,
                       integral_case_management=integral_case_management)


INSTITUTIONS = {
    RAV: institution(1, RAV, "RAV Luzern"),
    IV: institution(2, IV, "WAS IV Luzern"),
    SOCIAL: institution(3, SOCIAL, "Sozialdienste Stadt Luzern"),
}
OTHER_SOCIAL = institution(4, SOCIAL, "SoBZ Sursee")
NO_ICM = institution(5, SOCIAL, "Sozialdienst Kleindorf", integral_case_management=False)


def run(referrer=SOCIAL, receiver=IV, situation=None, **overrides):
    """assess() with a complete application; `overrides` replace single arguments."""
    kwargs = {
        "referrer": INSTITUTIONS[referrer] if isinstance(referrer, str) else referrer,
        "receiver": INSTITUTIONS[receiver] if isinstance(receiver, str) else receiver,
        "situation": situation or Situation(),
        "client_complete": True,
        "mandate": "Job coaching until a stable placement",
        "problem_areas": ["debts"],
        "planned_duration_months": 6,
        "consent_given_on": TODAY - datetime.timedelta(days=3),
        "consent_form": "written",
        "today": TODAY,
    }
    kwargs.update(overrides)
    return assess(**kwargs)


def codes(findings):
    return [finding.code for finding in findings]


# --- Target groups: DOMAIN.md's table, row by row ---------------------------------------------------------

TABLE = [
    # from, to, situation, group                                      # the table's condition
    (IV, RAV, Situation(), "A"),                                       # no unemployment benefits (ALE)
    (IV, RAV, Situation(receives_unemployment_benefits=True), "B"),    # receives ALE
    (RAV, IV, Situation(iv_procedure_running=True), "B"),              # IV procedure running or completed
    (RAV, IV, Situation(), "F"),                                       # no IV procedure
    (IV, SOCIAL, Situation(), "C"),                                    # no social assistance
    (IV, SOCIAL, Situation(economic_social_assistance=True), "D"),     # receives social assistance
    (SOCIAL, IV, Situation(iv_procedure_running=True), "D"),           # IV procedure running
    (SOCIAL, IV, Situation(), "E"),                                    # no IV procedure
    (RAV, SOCIAL, Situation(), "G"),                                   # no social assistance
    (RAV, SOCIAL, Situation(in_social_counselling=True), "I"),         # receives social assistance
    (SOCIAL, RAV, Situation(), "H"),                                   # no ALE
    (SOCIAL, RAV, Situation(receives_unemployment_benefits=True), "I"),  # receives ALE
    (SOCIAL, SOCIAL, Situation(), ""),                                 # social -> social: no target group
]


@pytest.mark.parametrize(("referrer", "receiver", "situation", "group"), TABLE,
                         ids=[f"{a}-{b}-{g or 'none'}" for a, b, _, g in TABLE])
def test_target_group_follows_the_domain_table(referrer, receiver, situation, group):
    assert derive_target_group(referrer, receiver, situation) == group


def test_the_table_covers_every_pair_of_different_kinds_and_social_to_social():
    pairs = {(a, b) for a, b, _, _ in TABLE}
    expected = {(a, b) for a in (RAV, IV, SOCIAL) for b in (RAV, IV, SOCIAL) if a != b} | {(SOCIAL, SOCIAL)}
    assert pairs == expected
    assert len(TABLE) == 13


@pytest.mark.parametrize("kind", [RAV, IV])
def test_same_kind_pairs_other_than_social_have_no_optima_flow(kind):
    assert derive_target_group(kind, kind, Situation()) is None
    assert derive_target_group(kind, kind, Situation(receives_unemployment_benefits=True,
                                                     iv_procedure_running=True)) is None


@pytest.mark.parametrize(("situation", "group"), [
    (Situation(in_iv_integration=True), "B"),
    (Situation(last_iv_rejection_on=datetime.date(2020, 1, 1)), "B"),  # a completed procedure
    (Situation(receives_unemployment_benefits=True), "F"),
])
def test_rav_to_iv_counts_a_completed_or_ongoing_iv_procedure_as_group_b(situation, group):
    assert derive_target_group(RAV, IV, situation) == group


@pytest.mark.parametrize("situation", [Situation(in_social_counselling=True),
                                       Situation(economic_social_assistance=True)])
def test_personal_or_economic_social_assistance_both_count_as_social_assistance(situation):
    assert derive_target_group(IV, SOCIAL, situation) == "D"
    assert derive_target_group(RAV, SOCIAL, situation) == "I"


def test_social_to_iv_without_a_running_procedure_is_group_e_even_after_a_rejection():
    assert derive_target_group(SOCIAL, IV, Situation(last_iv_rejection_on=datetime.date(2020, 1, 1))) == "E"


@pytest.mark.parametrize(("kind", "process"), [
    (RAV, Process.OPTIMA_ALV), (IV, Process.OPTIMA_IV), (SOCIAL, Process.OPTIMA_SH)])
def test_receiver_kind_names_the_process(kind, process):
    assert derive_process(kind) == process
    referrer = SOCIAL if kind != SOCIAL else IV
    assessment = run(referrer=referrer, receiver=kind)
    assert assessment.process == process
    assert assessment.criteria == criteria_for(referrer, kind)
    assert assessment.criteria[:len(ADMISSION_CRITERIA[kind])] == ADMISSION_CRITERIA[kind]


def test_referrer_specific_criteria_appear_only_for_that_referrer():
    assert len(criteria_for(SOCIAL, RAV)) == len(ADMISSION_CRITERIA[RAV]) + 1
    assert criteria_for(IV, RAV) == ADMISSION_CRITERIA[RAV]
    assert len(criteria_for(RAV, SOCIAL)) == len(ADMISSION_CRITERIA[SOCIAL]) + 1
    assert criteria_for(IV, SOCIAL) == ADMISSION_CRITERIA[SOCIAL]


def test_unknown_receiver_kind_gives_no_process():
    assert derive_process("school") == ""


def test_assessment_carries_the_target_group_and_its_description():
    assessment = run(referrer=SOCIAL, receiver=IV)
    assert assessment.target_group == "E"
    assert "without an IV procedure" in str(assessment.target_group_description)
    assert run(referrer=SOCIAL, receiver=OTHER_SOCIAL).target_group == ""
    assert run(referrer=SOCIAL, receiver=OTHER_SOCIAL).target_group_description == ""


# --- A complete application ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("referrer", "receiver"),
                         [*dict.fromkeys((a, b) for a, b, _, _ in TABLE if (a, b) != (SOCIAL, SOCIAL)),
                          (SOCIAL, "other_social")])
def test_complete_application_without_risks_has_nothing_blocking(referrer, receiver):
    assessment = run(referrer=referrer, receiver=OTHER_SOCIAL if receiver == "other_social" else receiver)
    assert assessment.missing == []
    assert assessment.hard_stops == []
    assert assessment.warnings == []
    assert assessment.blocking() == []
    assert not assessment.needs_justification


# --- Hard stops ----------------------------------------------------------------------------------------------

def test_suspected_iv_health_damage_is_a_hard_stop_for_referrals_to_the_iv_pointing_to_a_regular_registration():
    assessment = run(referrer=SOCIAL, receiver=IV, situation=Situation(iv_health_damage_suspected=True))
    assert codes(assessment.hard_stops) == ["iv_health_damage"]
    finding = assessment.hard_stops[0]
    assert finding.field == "iv_health_damage_suspected"
    assert "IV-Anmeldung" in str(finding.message)
    assert codes(assessment.blocking("We really want this")) == ["iv_health_damage"]


@pytest.mark.parametrize("receiver", [RAV, SOCIAL])
def test_suspected_iv_health_damage_does_not_stop_referrals_to_other_kinds(receiver):
    referrer = IV if receiver != IV else SOCIAL
    assessment = run(referrer=referrer, receiver=receiver, situation=Situation(iv_health_damage_suspected=True))
    assert assessment.hard_stops == []


@pytest.mark.parametrize("kind", [RAV, IV, SOCIAL])
def test_referral_to_own_institution_is_a_hard_stop(kind):
    assessment = run(referrer=kind, receiver=kind)
    assert codes(assessment.hard_stops) == ["own_institution"]
    assert assessment.hard_stops[0].field == "receiving_institution"
    assert assessment.target_group is None


@pytest.mark.parametrize("kind", [RAV, IV])
def test_referral_to_another_institution_of_the_same_non_social_kind_is_a_hard_stop(kind):
    other = institution(9, kind)
    assessment = run(referrer=kind, receiver=other)
    assert codes(assessment.hard_stops) == ["same_kind"]


def test_referral_between_two_social_services_is_possible():
    assessment = run(referrer=SOCIAL, receiver=OTHER_SOCIAL)
    assert assessment.hard_stops == []
    assert assessment.process == Process.OPTIMA_SH


@pytest.mark.parametrize("referrer", [RAV, IV, SOCIAL])
def test_social_service_without_integral_case_management_is_a_hard_stop_naming_it(referrer):
    assessment = run(referrer=referrer, receiver=NO_ICM)
    assert codes(assessment.hard_stops) == ["no_integral_case_management"]
    assert "Sozialdienst Kleindorf" in str(assessment.hard_stops[0].message)


@pytest.mark.parametrize(("consent_given_on", "consent_form"), [
    (None, ""), (None, "written"), (TODAY, ""), (TODAY, None)])
def test_missing_consent_is_a_hard_stop(consent_given_on, consent_form):
    assessment = run(consent_given_on=consent_given_on, consent_form=consent_form)
    assert codes(assessment.hard_stops) == ["no_consent"]
    assert "voluntary" in str(assessment.hard_stops[0].message)


def test_consent_given_today_verbally_is_enough():
    assert run(consent_given_on=TODAY, consent_form="verbal").blocking() == []


def test_consent_in_the_future_is_reported_as_missing_information():
    assessment = run(consent_given_on=TODAY + datetime.timedelta(days=1))
    assert codes(assessment.missing) == ["consent_in_future"]
    assert assessment.hard_stops == []


# --- Warnings and their boundaries ----------------------------------------------------------------------------

TWELVE_MONTHS_AGO = datetime.date(2025, 3, 15)
SIX_MONTHS_AGO = datetime.date(2025, 9, 15)


@pytest.mark.parametrize(("rejected_on", "warned"), [
    (TWELVE_MONTHS_AGO - datetime.timedelta(days=1), False),
    (TWELVE_MONTHS_AGO, False),                               # exactly 12 months ago: allowed
    (TWELVE_MONTHS_AGO + datetime.timedelta(days=1), True),   # a day less than 12 months ago
    (TODAY - datetime.timedelta(days=30), True),
    (TODAY, True),
])
def test_iv_rejection_less_than_12_months_ago_warns_on_referrals_to_the_iv(rejected_on, warned):
    assessment = run(referrer=SOCIAL, receiver=IV, situation=Situation(last_iv_rejection_on=rejected_on))
    assert codes(assessment.warnings) == (["iv_rejection_recent"] if warned else [])
    assert assessment.hard_stops == []
    if warned:
        assert assessment.warnings[0].field == "last_iv_rejection_on"
        assert assessment.needs_justification


@pytest.mark.parametrize("referrer", [RAV, SOCIAL])
def test_recent_iv_rejection_warns_for_every_referrer_to_the_iv(referrer):
    assessment = run(referrer=referrer, receiver=IV, situation=Situation(last_iv_rejection_on=TODAY))
    assert codes(assessment.warnings) == ["iv_rejection_recent"]


@pytest.mark.parametrize("receiver", [RAV, SOCIAL])
def test_recent_iv_rejection_does_not_warn_on_referrals_elsewhere(receiver):
    referrer = IV if receiver == RAV else RAV
    assessment = run(referrer=referrer, receiver=receiver, situation=Situation(last_iv_rejection_on=TODAY))
    assert assessment.warnings == []


@pytest.mark.parametrize(("registered_on", "warned"), [
    (SIX_MONTHS_AGO - datetime.timedelta(days=1), False),
    (SIX_MONTHS_AGO, False),                              # exactly 6 months ago: no longer "in the last 6 months"
    (SIX_MONTHS_AGO + datetime.timedelta(days=1), True),
    (TODAY, True),
])
def test_social_to_rav_warns_when_the_client_was_registered_at_the_rav_in_the_last_6_months(registered_on, warned):
    assessment = run(referrer=SOCIAL, receiver=RAV, situation=Situation(last_rav_registration_on=registered_on))
    assert codes(assessment.warnings) == (["rav_registration_recent"] if warned else [])


def test_recent_rav_registration_boundary_at_the_end_of_a_month():
    today = datetime.date(2025, 3, 31)  # 6 months earlier is 30 September (no 31st)
    for registered_on, warned in ((datetime.date(2024, 9, 30), False), (datetime.date(2024, 10, 1), True)):
        assessment = run(referrer=SOCIAL, receiver=RAV, today=today,
                         consent_given_on=today, situation=Situation(last_rav_registration_on=registered_on))
        assert codes(assessment.warnings) == (["rav_registration_recent"] if warned else []), registered_on


def test_recent_rav_registration_does_not_warn_when_the_iv_refers_to_the_rav():
    assessment = run(referrer=IV, receiver=RAV, situation=Situation(last_rav_registration_on=TODAY))
    assert assessment.warnings == []


IIZ_SITUATION = Situation(registered_at_rav=True, iv_procedure_running=True, economic_social_assistance=True)


@pytest.mark.parametrize(("referrer", "receiver"), [(SOCIAL, IV), (SOCIAL, RAV), (RAV, SOCIAL), (IV, RAV)])
def test_client_known_to_all_three_institutions_warns_it_is_an_iiz_case(referrer, receiver):
    assessment = run(referrer=referrer, receiver=receiver, situation=IIZ_SITUATION)
    assert codes(assessment.warnings) == ["iiz_case"]
    assert "IIZ coordinator" in str(assessment.warnings[0].message)
    assert assessment.hard_stops == []


def test_iiz_warning_shows_before_a_receiver_is_chosen():
    assessment = run(receiver=None, situation=IIZ_SITUATION)
    assert "iiz_case" in codes(assessment.warnings)


@pytest.mark.parametrize("situation", [
    Situation(receives_unemployment_benefits=True, in_iv_integration=True, in_social_counselling=True),
    Situation(registered_at_rav=True, iv_procedure_running=True, in_social_counselling=True),
])
def test_any_sign_of_each_institution_counts_for_the_iiz_warning(situation):
    assert codes(run(situation=situation).warnings) == ["iiz_case"]


@pytest.mark.parametrize("situation", [
    Situation(iv_procedure_running=True, economic_social_assistance=True),          # not known to the RAV
    Situation(registered_at_rav=True, economic_social_assistance=True),             # not known to the IV
    Situation(registered_at_rav=True, iv_procedure_running=True),                   # no social assistance
    Situation(registered_at_rav=True, last_iv_rejection_on=datetime.date(2020, 1, 1),
              economic_social_assistance=True),                                     # IV procedure finished
])
def test_client_known_to_only_two_institutions_is_no_iiz_case(situation):
    assert "iiz_case" not in codes(run(referrer=SOCIAL, receiver=IV, situation=situation).warnings)


# --- Missing information ---------------------------------------------------------------------------------

def test_empty_application_lists_everything_missing_with_the_field_to_fix():
    assessment = run(receiver=None, client_complete=False, mandate="  ", planned_duration_months=None,
                     consent_given_on=None, consent_form="")
    assert codes(assessment.missing) == ["client_missing", "receiver_missing", "mandate_missing",
                                         "duration_missing"]
    assert [f.field for f in assessment.missing] == ["client", "receiving_institution", "mandate",
                                                     "planned_duration_months"]
    assert codes(assessment.hard_stops) == ["no_consent"]
    assert assessment.process == ""
    assert assessment.target_group is None
    assert assessment.criteria == []


@pytest.mark.parametrize(("argument", "value", "code"), [
    ("client_complete", False, "client_missing"),
    ("mandate", "", "mandate_missing"),
    ("mandate", None, "mandate_missing"),
    ("planned_duration_months", None, "duration_missing"),
    ("planned_duration_months", 0, "duration_missing"),
])
def test_each_missing_field_is_reported_alone(argument, value, code):
    assert codes(run(**{argument: value}).missing) == [code]


@pytest.mark.parametrize("problem_areas", [[], None])
def test_referral_to_social_services_needs_a_problem_area(problem_areas):
    assessment = run(referrer=IV, receiver=SOCIAL, problem_areas=problem_areas)
    assert codes(assessment.missing) == ["problem_areas_missing"]
    assert assessment.missing[0].field == "problem_areas"


def test_referral_to_the_iv_or_rav_needs_no_problem_area():
    assert run(referrer=SOCIAL, receiver=IV, problem_areas=[]).missing == []
    assert run(referrer=SOCIAL, receiver=RAV, problem_areas=[]).missing == []


@pytest.mark.parametrize("name", ["last_iv_rejection_on", "last_rav_registration_on"])
def test_situation_dates_in_the_future_are_reported(name):
    situation = Situation(**{name: TODAY + datetime.timedelta(days=1)})
    assessment = run(referrer=RAV, receiver=SOCIAL, situation=situation)
    assert [(f.code, f.field) for f in assessment.missing] == [("date_in_future", name)]


# --- Blocking, with and without a justification ----------------------------------------------------------

def test_warning_blocks_until_justified():
    assessment = run(situation=Situation(last_iv_rejection_on=TODAY))
    assert codes(assessment.blocking()) == ["justification_required"]
    assert codes(assessment.blocking("")) == ["justification_required"]
    assert codes(assessment.blocking("   \n")) == ["justification_required"]
    assert codes(assessment.blocking(None)) == ["justification_required"]
    assert assessment.blocking()[0].field == "justification"
    assert assessment.blocking("Rejected for formal reasons only; the situation has changed") == []


def test_justification_cannot_lift_missing_information_or_hard_stops():
    assessment = run(mandate="", consent_form="", situation=Situation(last_iv_rejection_on=TODAY))
    assert codes(assessment.blocking()) == ["mandate_missing", "no_consent", "justification_required"]
    assert codes(assessment.blocking("Good reasons")) == ["mandate_missing", "no_consent"]


def test_blocking_without_warnings_ignores_the_justification():
    assessment = Assessment(missing=[Finding("mandate_missing", "Describe the mandate", "mandate")])
    assert codes(assessment.blocking()) == ["mandate_missing"]
    assert codes(assessment.blocking("anything")) == ["mandate_missing"]
    assert Assessment().blocking() == []
    assert not Assessment().needs_justification


def test_blocking_does_not_change_the_assessment():
    assessment = run(situation=Situation(last_iv_rejection_on=TODAY))
    assessment.blocking()
    assessment.blocking()
    assert codes(assessment.warnings) == ["iv_rejection_recent"]
    assert assessment.missing == [] and assessment.hard_stops == []


def test_situation_reads_itself_from_a_referral_like_object():
    class Referral:
        pass

    referral = Referral()
    for name in Situation.FIELDS:
        setattr(referral, name, False)
    referral.last_iv_rejection_on = TODAY
    referral.last_rav_registration_on = None
    referral.economic_social_assistance = True
    situation = Situation.from_referral(referral)
    assert situation.last_iv_rejection_on == TODAY
    assert situation.receives_social_assistance
    assert not situation.known_to_rav and not situation.known_to_iv
