"""The benchmark runs on a small dataset (issue 14). No timings are checked here: only that it runs."""

import pytest
from django.core.management import call_command

from scale import synthetic


@pytest.mark.django_db
def test_benchmark_prints_the_table_on_a_small_generated_dataset(directory, referrer, contact_person, coordinator,
                                                                 capsys, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    synthetic.generate(referrals=60, seed=5, years=2)
    call_command("rebuild_kpi_rollup", verbosity=0)
    call_command("benchmark", repeat=1, output=str(tmp_path / "table.md"))
    out = capsys.readouterr().out
    for expected in ("KPI sheet, all time", "all KPI tables, one year", "login page", "start page (coordinator)",
                     "case page (contact person)", "logged-in floor: password form (contact person)",
                     "KPI page, all time (coordinator)", "report task, all time (done)",
                     "model C balance, one year", "model C balance, all time"):
        assert expected in out
    assert (tmp_path / "table.md").read_text().startswith("Dataset: 60 referrals")
    assert "| 500 |" not in out  # every page answered
    # Beside each page, its own statements replayed through a bare cursor: the database's share of the page.
    assert "| its SQL alone (ms) | SQL alone x login |" in out
    list_row = next(line for line in out.splitlines() if line.startswith("| referral list (contact person)"))
    assert list_row.split("|")[5].strip()  # replayed: a time, not blank
    assert "| NO |" not in out and "| yes |" in out  # the rollup gives the figures of the events


@pytest.mark.django_db
def test_bench_sessions_prints_logged_in_sessions_with_the_second_factor_done(directory, coordinator, capsys,
                                                                              settings):
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.services import SESSION_MFA_STATE

    settings.DEBUG = True  # a measurement machine
    call_command("bench_sessions", users=coordinator.username)
    session = SessionStore(session_key=capsys.readouterr().out.strip())
    assert session["_auth_user_id"] == str(coordinator.pk) and SESSION_MFA_STATE not in session


def test_bench_sessions_refuses_in_production_shape(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG is off"):
        call_command("bench_sessions")


@pytest.mark.django_db
def test_bench_sessions_draws_a_sample_of_users(directory, referrer, contact_person, coordinator, capsys, settings):
    settings.DEBUG = True
    call_command("bench_sessions", sample=3)
    assert len(capsys.readouterr().out.strip().split(",")) == 3
