"""The KPI sheet: the pilot's 52 referrals give exactly the pilot's sheet from the API, the page and every
export; periods count the events in them (Zurich days); only the coordinator and administrators see it;
the query count does not grow with the number of referrals."""

import csv
import io
import re
from html import unescape

import openpyxl
import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader
from test_reporting_pilot_data import (
    API,
    PILOT_SHEET,
    build_pilot,
    flatten,
    fresh_celery_pools,
    kpi_cells,
    make_user,
)

from reporting import exports, kpi
from reporting.models import ReportSnapshot
from reporting.tasks import build_snapshot_task

# The pilot's sheet as laid out on paper: (section, row) -> IV, RAV/ALV, Sozialhilfe, Total (or one number).
SHEET_ROWS = {
    ("Auftraggeber und Auftragnehmer", "Auftraggeber"): [1, 12, 39, 52],
    ("Auftraggeber und Auftragnehmer", "Auftragnehmer"): [21, 17, 14, 52],
    ("Anmeldungen und Entscheide", "Anzahl Anmeldungen"): [52],
    ("Anmeldungen und Entscheide", "Angenommene Aufträge"): [38],
    ("Anmeldungen und Entscheide", "Abgelehnte Aufträge"): [12],
    ("Anmeldungen und Entscheide", "IV-Ablehnung < 1 Jahr zurück"): [3],
    ("Anmeldungen und Entscheide", "Kein intaktes Arbeitsangebot"): [0],
    ("Anmeldungen und Entscheide", "Keine Kapazität"): [0],
    ("Anmeldungen und Entscheide", "Sonstige"): [9],
    ("Anmeldungen und Entscheide", "Zielsetzung nicht realisierbar"): [0],
    ("Kostengutsprachen", "Anträge auf Kostengutsprache"): [1, 0, 0, 1],
    ("Kostengutsprachen", "Bewilligte Kostengutsprachen"): [1, 0, 0, 1],
    ("Kostengutsprachen", "Abgelehnte Kostengutsprachen"): [0, 0, 0, 0],
    ("Abgeschlossene Fälle und Abschlussgründe", "Abgeschlossene Fälle"): [17, 9, 9, 35],
    ("Abgeschlossene Fälle und Abschlussgründe", "Auftrag erfolgreich umgesetzt"): [4, 2, 7, 13],
    ("Abgeschlossene Fälle und Abschlussgründe", "Auftrag teilweise umgesetzt"): [0, 5, 2, 7],
    ("Abgeschlossene Fälle und Abschlussgründe", "Auftrag nicht umgesetzt"): [12, 0, 0, 12],
    ("Abgeschlossene Fälle und Abschlussgründe", "Sonstige"): [1, 2, 0, 3],
}
SECTIONS = {section for section, _row in SHEET_ROWS}


@pytest.fixture(scope="module")
def pilot_once(django_db_setup, django_db_blocker):
    """The 52 referrals, built once for the module inside a transaction that is rolled back at its end."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            yield build_pilot()
            transaction.set_rollback(True)


@pytest.fixture(scope="module")
def pilot_report(pilot_once, django_db_blocker, tmp_path_factory):
    """The report of the pilot, built once by the Celery task (eager, as in the default setup)."""
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")):
        snapshot = ReportSnapshot.objects.create(requested_by=None)
        fresh_celery_pools()
        assert build_snapshot_task.delay(snapshot.pk).get() == "done"
        snapshot.refresh_from_db()
        files = {fmt: snapshot.file_for(fmt).read() for fmt in ("csv", "xlsx", "pdf")}
        yield snapshot, files


@pytest.fixture
def pilot(pilot_once, db):
    return pilot_once


@pytest.fixture
def client(client):
    # The assertions read the English source strings; the KPI labels are German in every language.
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.cookies["django_language"] = "en"  # the language switch (issue 12), not the browser alone
    return client


@pytest.fixture
def iic(pilot):
    """The IIZ coordinator (at the RAV, as in the pilot)."""
    return make_user("koordination.iiz", pilot["rav"], ["coordinator"])


# --- the pilot's sheet ----------------------------------------------------------------------------------


def test_api_gives_exactly_the_pilot_sheet(client, iic):
    client.force_login(iic)
    response = client.get(API)
    assert response.status_code == 200
    assert response.json() == PILOT_SHEET


def test_page_shows_exactly_the_pilot_sheet_with_its_labels_and_the_counting_rule(client, iic):
    client.force_login(iic)
    response = client.get(reverse("reporting:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    cells = kpi_cells(html)
    for key, value in flatten(PILOT_SHEET):
        assert key in cells, key
        assert set(cells[key]) == {str(value)}, (key, cells[key], value)
    assert cells["referrers.total"] == ["52"] and cells["receivers.total"] == ["52"]
    text = unescape(html)
    for section, row in SHEET_ROWS:
        assert section in text and row in text
    for label in ("IV", "RAV/ALV", "Sozialhilfe"):
        assert f">{label}</th>" in html
    assert "Each figure counts the events that happened in the period" in html
    assert "Referrals withdrawn as drafts never count" in html
    # Charts (vendored Chart.js), each with its table.
    assert "vendor/chartjs/chart.umd.min.js" in html and 'id="kpi-charts"' in html
    for key in ("parties", "decisions", "closures", "flows", "target_groups", "trend"):
        assert f'id="chart-{key}"' in html and f'id="table-{key}"' in html


def test_the_sheet_is_the_same_in_every_export(pilot, pilot_report, client, iic):
    snapshot, files = pilot_report
    assert snapshot.figures["sheet"] == PILOT_SHEET
    assert csv_rows(files["csv"]) == SHEET_ROWS
    assert xlsx_rows(files["xlsx"]) == SHEET_ROWS
    text = pdf_text(files["pdf"])
    for (_section, row), values in SHEET_ROWS.items():
        line = " ".join([row, *map(str, values)])
        assert line in text, line
    with translation.override(settings.LANGUAGE_CODE):
        rule = exports.counting_rule()
    assert "OPTIMA-Kennzahlen" in text and rule in text
    # The coordinator downloads exactly these files.
    client.force_login(iic)
    for fmt, content_type in (("csv", "text/csv"), ("xlsx", "spreadsheetml"), ("pdf", "application/pdf")):
        response = client.get(reverse("reporting:snapshot_download", args=[snapshot.pk, fmt]))
        assert response.status_code == 200 and content_type in response["Content-Type"]
        assert response["Content-Disposition"].startswith("attachment")
        assert b"".join(response.streaming_content) == files[fmt]


def csv_rows(content):
    assert content.startswith("\ufeff".encode())
    rows, section, previous = {}, None, None
    for line in csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"):
        if previous == [] and len(line) == 1:  # a section's title follows an empty line
            section = line[0] if line[0] in SECTIONS else None
        elif section and len(line) > 1 and line[1].isdigit():
            rows[(section, line[0])] = [int(v) for v in line[1:]]
        previous = line
    return rows


def xlsx_rows(content):
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert workbook.sheetnames[0] == "Kennzahlen" and len(workbook.sheetnames) == 3
    rows, section = {}, None
    for values in workbook["Kennzahlen"].iter_rows(values_only=True):
        values = [v for v in values if v is not None]
        if len(values) == 1 and values[0] in SECTIONS:
            section = values[0]
        elif section and len(values) > 1 and all(isinstance(v, int | float) for v in values[1:]):
            assert all(float(v).is_integer() for v in values[1:])
            rows[(section, values[0])] = [int(v) for v in values[1:]]
    return rows


def pdf_text(content):
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_no_client_data_in_page_or_exports(client, iic, pilot, pilot_report):
    client.force_login(iic)
    html = client.get(reverse("reporting:dashboard")).content.decode()
    snapshot, files = pilot_report
    outputs = [html, files["csv"].decode("utf-8-sig"), pdf_text(files["pdf"]), str(snapshot.figures)]
    workbook = openpyxl.load_workbook(io.BytesIO(files["xlsx"]))
    outputs.append(" ".join(str(c) for ws in workbook for row in ws.iter_rows(values_only=True) for c in row))
    for output in outputs:
        assert "Vorname1" not in output and "Klientenname" not in output
        assert "756" + "100000" not in output.replace(".", "")
    # The free texts behind the codes are for the two institutions only (need to know, issue 9): neither on the
    # coordinator's page nor in the exports; the codes are counted.
    assert all("Umzug in einen anderen Kanton" not in output for output in outputs)


def test_figures_beyond_the_sheet(pilot):
    extras = kpi.compute()["extras"]
    assert extras["flows"] == {"iv": {"iv": 0, "rav": 1, "social": 0}, "rav": {"iv": 8, "rav": 0, "social": 4},
                               "social": {"iv": 13, "rav": 16, "social": 10}}
    groups = extras["target_groups"]
    assert sum(groups.values()) == 52 and groups["none"] == 10 and groups["A"] == 1
    assert groups["E"] + groups["D"] == 13 and groups["H"] + groups["I"] == 16 and groups["F"] + groups["B"] == 8
    waits = extras["waiting_times"]
    assert waits["decision"]["all"]["count"] == 50  # 38 accepted + 12 rejected
    assert waits["handover"]["all"]["count"] == 37  # 35 closed + 2 active
    assert 3 <= waits["decision"]["all"]["median"] <= waits["decision"]["all"]["p90"] <= 18.1
    assert extras["case_durations"]["all"]["count"] == 35
    assert extras["closure_grounds"]["goal_unreachable"] == 12 and extras["closure_grounds"]["other"] == 3
    assert extras["cost_amounts"]["approved"] == {"total": "2400.00", "iv": "2400.00", "rav": "0.00",
                                                  "social": "0.00"}
    assert extras["open_now"] == {"submitted": 2, "accepted": 1, "active": 2}
    trend = extras["trend"]
    assert sum(m["applications"] for m in trend) == 52 and sum(m["closed"] for m in trend) == 35
    assert trend[0]["month"] == "2019-03"
