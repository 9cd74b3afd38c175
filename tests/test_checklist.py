"""Issue 12: the live checklist while filing and deciding, forms that never mislead, dd.mm.yyyy dates."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals.models import Referral, Status
from referrals.rules import MET, NOT_MET, UNKNOWN, Situation, assess
from tests.conftest import VALID_AHV

pytestmark = pytest.mark.usefixtures("english_pages")  # assertions read the English source texts

TODAY = timezone.localdate()


def form_data(directory, **overrides):
    data = {
        "first_name": "Mara", "last_name": "Beispiel", "date_of_birth": "02.03.1984", "ahv_number": VALID_AHV,
        "municipality": directory["luzern"].pk, "preferred_language": "de", "in_social_counselling": "on",
        "economic_social_assistance": "on", "receiving_kind": "iv", "receiving_institution": directory["iv"].pk,
        "mandate": "Job coaching until a stable placement", "planned_duration_months": "6",
        "consent_given_on": (TODAY - datetime.timedelta(days=2)).strftime("%d.%m.%Y"), "consent_form": "written",
        "justification": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def states(assessment):
    return {str(check.text): check.state for check in assessment.checklist}


def run(directory, referrer="social", receiver="iv", situation=None, problem_areas=("debts",)):
    return assess(referrer=directory[referrer], receiver=directory[receiver], situation=situation or Situation(),
                  client_complete=True, mandate="m", problem_areas=list(problem_areas), planned_duration_months=6,
                  consent_given_on=TODAY, consent_form="written", today=TODAY)


# --- the rules: one evaluation for the checklist and for what blocks sending ------------------------------

def test_a_running_iv_procedure_flags_the_criterion_no_iv_procedure_running(directory, english):
    checks = states(run(directory, situation=Situation(iv_procedure_running=True)))
    assert checks["No IV procedure running."] == NOT_MET
    assert states(run(directory))["No IV procedure running."] == MET


def test_criteria_the_form_cannot_answer_are_open_with_the_question_that_settles_them(directory, english):
    assessment = run(directory)
    work_offer = assessment.checklist[0]
    assert work_offer.state == UNKNOWN
    assert "?" in str(work_offer.note)


def test_checklist_not_met_matches_the_findings_enforced_on_submit(directory, english):
    damaged = run(directory, situation=Situation(iv_health_damage_suspected=True))
    assert [f.code for f in damaged.hard_stops] == ["iv_health_damage"]
    assert states(damaged)[str(damaged.checklist[5].text)] == NOT_MET
    recent = run(directory, situation=Situation(last_iv_rejection_on=TODAY - datetime.timedelta(days=30)))
    assert [f.code for f in recent.warnings] == ["iv_rejection_recent"]
    assert recent.checklist[4].state == NOT_MET
    no_icm = run(directory, receiver="no_icm", referrer="rav", problem_areas=())
    assert [c.state for c in no_icm.checklist] == [NOT_MET, NOT_MET, UNKNOWN]
    assert {f.code for f in no_icm.hard_stops + no_icm.missing} == {"no_integral_case_management",
                                                                    "problem_areas_missing"}


def test_the_iv_referring_to_the_rav_is_not_told_its_own_measures_fail_a_criterion(directory, english):
    assessment = run(directory, referrer="iv", receiver="rav", situation=Situation(in_iv_integration=True))
    assert NOT_MET not in [c.state for c in assessment.checklist]


# --- the filing page -----------------------------------------------------------------------------------------

def test_the_empty_form_shows_no_error_before_the_first_input(client, referrer):
    client.force_login(referrer)
    html = client.get(reverse("referrals:create")).content.decode()
    assert "cannot be sent" not in html
    assert 'id="error-summary"' not in html
    assert "alert-danger" not in html
    assert "five parts" in html
    assert "<script>" not in html  # no inline scripts (CSP without unsafe-inline)


def test_live_check_shows_the_checklist_states_and_never_says_everything_is_there_while_blocked(
        client, referrer, directory):
    client.force_login(referrer)
    html = client.post(reverse("referrals:check"), form_data(directory, iv_procedure_running="on")).content.decode()
    assert 'data-state="not_met"' in html and 'data-state="unknown"' in html and 'data-state="met"' in html
    assert "Everything needed is there" in html  # a criterion not met guides, it does not block
    assert "admission criterion is not met" in html

    html = client.post(reverse("referrals:check"), form_data(
        directory, last_iv_rejection_on=(TODAY - datetime.timedelta(days=30)).strftime("%d.%m.%Y"))).content.decode()
    assert "Everything needed is there" not in html
    assert "Still missing before you can send (1 point)" in html
    assert 'id="justification-warnings" aria-live="polite" hx-swap-oob="true"' in html
    assert "less than 12 months ago" in html.split('data-testid="justification-warnings"')[1]

    html = client.post(reverse("referrals:check"), form_data(
        directory, last_iv_rejection_on=(TODAY - datetime.timedelta(days=30)).strftime("%d.%m.%Y"),
        justification="The situation has changed since.")).content.decode()
    assert "Everything needed is there" in html


def test_send_with_two_empty_fields_lists_every_problem_in_field_order_and_saves_nothing(
        client, referrer, directory):
    client.force_login(referrer)
    response = client.post(reverse("referrals:create"), form_data(
        directory, last_name="", ahv_number="756.1234.5678.90", mandate="", send="1"))
    assert response.status_code == 400
    html = response.content.decode()
    summary = html.split('id="error-summary"')[1].split("</ul>")[0]
    anchors = re.findall(r'href="#id_(\w+)"', summary)
    assert anchors == ["last_name", "ahv_number", "mandate"]
    assert "Nothing was sent or saved yet" in html
    assert Referral.objects.count() == 0
    assert 'value="Mara"' in html  # nothing typed is lost


def test_a_failed_send_of_a_valid_form_says_it_saved_a_draft_and_marks_the_empty_field(client, referrer, directory):
    client.force_login(referrer)
    response = client.post(reverse("referrals:create"), form_data(directory, last_name="", send="1"))
    assert response.status_code == 400
    html = response.content.decode()
    referral = Referral.objects.get()
    assert referral.status == Status.DRAFT
    assert f"saved as draft {referral.reference}" in html
    summary = html.split('id="error-summary"')[1].split("</ul>")[0]
    assert re.findall(r'href="#id_(\w+)"', summary) == ["last_name"]


def test_the_receiver_list_puts_the_responsible_institutions_first_and_preselects_the_only_one_of_the_kind(
        client, referrer, directory):
    client.force_login(referrer)
    html = client.post(reverse("referrals:check"), form_data(
        directory, receiving_kind="rav", receiving_institution="")).content.decode()
    receiver = html.split('id="receiver-options" hidden hx-swap-oob="true"')[1]
    assert receiver.index('label="Responsible for Luzern"') < receiver.index("RAV Luzern")
    assert re.search(rf'<option value="{directory["rav"].pk}" selected>', receiver)
    assert "WAS IV Luzern" not in receiver  # other kinds are filtered out
    assert "OPTIMA-ALV" in html


def _many_institutions(count):
    from institutions.models import Institution, InstitutionKind

    Institution.objects.bulk_create(Institution(key=f"iv-{n:04}", name=f"IV-Stelle {n:04}", kind=InstitutionKind.IV)
                                    for n in range(count))


def _receiver_options(html):
    return html.split('id="receiver-options" hidden hx-swap-oob="true"')[1].split("</select>")[0]


def test_a_national_directory_lists_the_responsible_institutions_and_a_bounded_number_of_others(
        client, referrer, directory):
    from referrals.forms import OTHER_RECEIVERS_SHOWN

    _many_institutions(300)  # issue 14: thousands of institutions must not all land in the select
    client.force_login(referrer)
    receiver = _receiver_options(client.post(reverse("referrals:check"), form_data(
        directory, receiving_kind="iv", receiving_institution="")).content.decode())
    assert "WAS IV Luzern" in receiver  # responsible for the client's municipality: always listed
    assert receiver.count("<option") <= OTHER_RECEIVERS_SHOWN + 2  # + "choose" + the responsible one
    assert "IV-Stelle 0299" not in receiver


def test_the_receiver_search_finds_an_institution_beyond_the_list_and_keeps_a_choice_made_before(
        client, referrer, directory):
    from institutions.models import Institution

    _many_institutions(300)
    far = Institution.objects.get(key="iv-0299")
    client.force_login(referrer)
    found = _receiver_options(client.post(reverse("referrals:check"), form_data(
        directory, receiving_kind="iv", receiving_institution="", receiver_search="0299")).content.decode())
    assert "IV-Stelle 0299" in found and "IV-Stelle 0001" not in found
    kept = _receiver_options(client.post(reverse("referrals:check"), form_data(
        directory, receiving_kind="iv", receiving_institution=far.pk, receiver_search="")).content.decode())
    assert re.search(rf'<option value="{far.pk}" selected>', kept)


def test_the_new_referral_form_costs_the_same_queries_with_300_more_institutions(
        client, referrer, directory, django_assert_max_num_queries):
    client.force_login(referrer)
    client.get(reverse("referrals:create"))
    with django_assert_max_num_queries(12) as small:
        client.get(reverse("referrals:create"))
    _many_institutions(300)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(reverse("referrals:create"))
    assert "IV-Stelle 0299" not in response.content.decode()


def test_dates_are_text_inputs_in_swiss_format_whatever_the_browser_language(client, referrer, directory):
    client.force_login(referrer)
    client.post(reverse("referrals:create"), form_data(directory, save="1"))
    referral = Referral.objects.get()
    assert referral.client.date_of_birth == datetime.date(1984, 3, 2)
    html = client.get(reverse("referrals:edit", args=[referral.pk]), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    field = re.search(r'<input[^>]*name="date_of_birth"[^>]*>', html).group(0)
    assert 'type="text"' in field and 'value="02.03.1984"' in field and 'inputmode="numeric"' in field
    assert "DD.MM.YYYY" in html or "TT.MM.JJJJ" in html


def test_the_receiver_sees_the_same_checklist_when_deciding(client, contact_person, make_referral):
    referral = make_referral(Status.SUBMITTED, iv_procedure_running=True)
    client.force_login(contact_person)
    html = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    checklist = html.split('id="decision-checklist"')[1]
    assert 'data-state="not_met"' in checklist and "No IV procedure running." in checklist
