"""Swiss formats in the templates: CHF 1'800.00 and dd.mm.yyyy in Europe/Zurich."""

import datetime
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.template import Context, Template
from django.utils import timezone

from referrals.templatetags.optima import (
    bs,
    case_rows,
    chf,
    days_ago,
    is_checkbox,
    is_choice_list,
    status_badge,
    swissdate,
)

UTC = datetime.UTC


@pytest.mark.parametrize("value, expected", [
    (1800, "CHF 1'800.00"),
    (Decimal("1800.00"), "CHF 1'800.00"),
    ("1800", "CHF 1'800.00"),
    (Decimal("1234567.5"), "CHF 1'234'567.50"),
    (Decimal("999.999"), "CHF 1'000.00"),
    (Decimal("0.05"), "CHF 0.05"),
    (0, "CHF 0.00"),
    (Decimal("-250"), "CHF -250.00"),
])
def test_chf(value, expected):
    assert chf(value) == expected


@pytest.mark.parametrize("value", [None, "", "abc", [1]])
def test_chf_of_nothing_is_empty(value):
    assert chf(value) == ""


def test_chf_in_a_template_is_not_escaped_into_entities():
    rendered = Template("{% load optima %}{{ amount|chf }}").render(Context({"amount": Decimal("1800")}))
    assert rendered in ("CHF 1'800.00", "CHF 1&#x27;800.00")  # autoescape may encode the apostrophe


@pytest.mark.parametrize("value, expected", [
    (datetime.date(2026, 3, 2), "02.03.2026"),
    (datetime.date(1984, 12, 31), "31.12.1984"),
])
def test_swissdate_of_dates(value, expected):
    assert swissdate(value) == expected


@pytest.mark.parametrize("value, expected", [
    # winter: UTC+1
    (datetime.datetime(2026, 1, 15, 23, 15, tzinfo=UTC), "16.01.2026 00:15"),
    # summer: UTC+2
    (datetime.datetime(2026, 7, 1, 22, 30, tzinfo=UTC), "02.07.2026 00:30"),
    (datetime.datetime(2026, 7, 1, 8, 5, tzinfo=UTC), "01.07.2026 10:05"),
    # already in another zone
    (datetime.datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/New_York")), "02.03.2026 15:00"),
])
def test_swissdate_of_aware_datetimes_is_in_zurich(value, expected):
    assert swissdate(value) == expected


def test_swissdate_across_the_end_of_summer_time():
    assert swissdate(datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == "25.10.2026 02:30"  # CEST
    assert swissdate(datetime.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == "25.10.2026 02:30"  # CET again


@pytest.mark.parametrize("value", [None, ""])
def test_swissdate_of_nothing_is_empty(value):
    assert swissdate(value) == ""


def test_swissdate_in_a_template():
    rendered = Template("{% load optima %}{{ d|swissdate }}").render(Context({"d": datetime.date(2026, 3, 2)}))
    assert rendered == "02.03.2026"


def test_days_ago():
    now = timezone.now()
    assert days_ago(now) == 0
    assert days_ago(now - datetime.timedelta(days=3)) == 3
    assert days_ago(None) == ""


def test_status_badge_names_the_status_in_the_language_of_the_page_and_escapes():
    html = status_badge(SimpleNamespace(status="submitted"))
    assert 'class="badge rounded-pill status-badge status-submitted"' in html and "Wartet auf Entscheid" in html
    odd = status_badge(SimpleNamespace(status="<b>odd</b>"))
    assert "<b>" not in odd and "&lt;b&gt;odd&lt;/b&gt;" in odd


class _Form(forms.Form):
    name = forms.CharField(help_text="Your name")
    agree = forms.BooleanField(required=False)
    kind = forms.ChoiceField(choices=[("a", "A")], widget=forms.RadioSelect)
    pick = forms.ChoiceField(choices=[("a", "A")])


def test_bs_links_hint_and_error_for_screen_readers():
    form = _Form(data={})
    form.is_valid()

    html = bs(form["name"])

    assert 'class="form-control is-invalid"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_name_hint id_name_error"' in html
    assert 'class="form-select is-invalid"' in bs(form["pick"])


def test_widget_kind_filters():
    form = _Form()
    assert is_checkbox(form["agree"]) and not is_choice_list(form["agree"])
    assert is_choice_list(form["kind"]) and not is_checkbox(form["kind"])
    assert not is_checkbox(form["name"]) and not is_choice_list(form["name"])


def _row(**overrides):
    values = dict(pk=7, reference="OPT-2026-0007", anonymised_at=None, identity_visible=True, identity_hidden=False,
                  client=SimpleNamespace(full_name="<i>Mara</i> Beispiel"), status="active",
                  referring_institution=SimpleNamespace(name="Sozialdienst <Luzern>"), receiving_institution=None,
                  status_changed_at=timezone.now() - datetime.timedelta(days=3))
    return SimpleNamespace(**{**values, **overrides})


def test_case_rows_link_the_case_and_escape_names_and_institutions(db):
    html = case_rows([_row()])
    assert 'href="/faelle/7/"' in html and "OPT-2026-0007" in html
    assert "&lt;i&gt;Mara&lt;/i&gt; Beispiel" in html and "Sozialdienst &lt;Luzern&gt;" in html and "<i>" not in html
    assert "—" in html and "seit 3 Tagen" in html and 'data-label="Referenz"' in html


@pytest.mark.parametrize("flags, shown", [
    ({"identity_visible": False}, "(pseudonymisiert)"),
    ({"identity_visible": False, "identity_hidden": True}, "(Einwilligung widerrufen – keine Personendaten)"),
    ({"anonymised_at": timezone.now()}, "(anonymisiert)"),
])
def test_case_rows_show_no_name_without_need_to_know(db, flags, shown):
    html = case_rows([_row(**flags)])
    assert "Mara" not in html and shown in html
