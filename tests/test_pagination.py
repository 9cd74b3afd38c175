"""Keyset (cursor) pagination of the referral list API (issue 14)."""

import re
from urllib.parse import urlencode

import pytest
from django.db.models import Q
from django.urls import reverse
from rest_framework.test import APIClient

from institutions.models import Institution, InstitutionKind
from referrals.models import Referral, Status
from scale import synthetic


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def many(directory, referrer, contact_person, coordinator):
    synthetic.generate(referrals=130, seed=3, years=2)
    return coordinator


def test_cursor_walks_the_whole_list_newest_change_first_without_counting(many):
    client = api(many)
    url, seen, stamps = "/api/v1/referrals/?cursor=", [], []
    while url:
        body = client.get(url).json()
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        stamps += [row.get("status_changed_at") for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == client.get("/api/v1/referrals/?page=1").json()["count"] > 100


def test_the_list_without_parameters_is_the_first_keyset_page(many):
    body = api(many).get("/api/v1/referrals/").json()
    assert "count" not in body and len(body["results"]) == 50 and "cursor=" in body["next"]


def test_page_numbers_still_work_with_count(many):
    body = api(many).get("/api/v1/referrals/?page=2").json()
    assert body["count"] > 100 and len(body["results"]) == 50


def test_a_broken_cursor_is_a_404_in_json(many):
    response = api(many).get("/api/v1/referrals/?cursor=nonsense")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_cursor_page_costs_no_count_query(many, django_assert_num_queries):
    client = api(many)
    # memberships, page (no COUNT, no OFFSET), then the clients' municipalities and the two case workers by a
    # query each (not joined: see selectors.LIST_RELATED); the coordinator's list is pseudonymised (issue 9), so
    # there is no client data to record in the audit trail
    with django_assert_num_queries(5):
        assert client.get("/api/v1/referrals/?cursor=").status_code == 200


def test_cursor_keeps_the_filters(many):
    body = api(many).get(f"/api/v1/referrals/?cursor=&status={Status.CLOSED}").json()
    assert body["results"] and {row["status"] for row in body["results"]} == {Status.CLOSED}


# --- The directory page: searched and paginated -----------------------------------------------------------


def test_directory_is_paginated_and_searchable_by_name_or_municipality(client, directory, referrer,
                                                                       django_assert_num_queries, english_pages):
    for n in range(40):
        Institution.objects.create(key=f"rav-extra-{n}", name=f"RAV Extra {n:02d}", kind=InstitutionKind.RAV)
    client.force_login(referrer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the assertions read the English source strings
    with django_assert_num_queries(7):
        html = client.get(reverse("directory")).content.decode()
    assert "45 institutions" in html and "page 1 of 2" in html and "RAV Extra 39" not in html
    assert "RAV Extra 39" in client.get(reverse("directory"), {"page": 2}).content.decode()
    assert client.get(reverse("directory"), {"page": "x"}).status_code == 200  # bad page: the first one
    found = client.get(reverse("directory"), {"q": "sursee"}).content.decode()
    assert "SoBZ Sursee" in found and "WAS IV Luzern" in found and "RAV Extra" not in found
    none = client.get(reverse("directory"), {"q": "Atlantis"}).content.decode()
    assert "No institution matches" in none


# --- The referral list page: keyset pages ---------------------------------------------------------------


def test_referral_list_pages_by_keyset_through_every_referral(client, many, django_assert_num_queries):
    client.force_login(many)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    seen, url, pages = [], reverse("referrals:list"), 0
    while url:
        with django_assert_num_queries(4):  # session, user, memberships, one page (no COUNT, no OFFSET)
            response = client.get(url)
        html = response.content.decode()
        rows = re.findall(r'href="/faelle/(\d+)/"', html)
        seen += list(dict.fromkeys(rows))
        pages += 1
        match = re.search(r'href="(\?q=&amp;status=&amp;after=[^"]+)"', html)
        url = reverse("referrals:list") + match.group(1).replace("&amp;", "&") if match else None
    assert pages == 3
    assert len(seen) == len(set(seen)) == 130


def test_referral_list_ignores_a_broken_cursor(client, many):
    client.force_login(many)
    assert client.get(reverse("referrals:list"), {"after": "yesterday_x"}).status_code == 200


def test_a_partys_list_pages_merge_sent_and_received_without_gaps_or_repeats(many, contact_person, client):
    from referrals.selectors import visible_referrals

    client.force_login(contact_person)
    expected = list(visible_referrals(contact_person).order_by("-status_changed_at", "-pk")
                    .values_list("pk", flat=True))
    url, seen = reverse("referrals:list"), []
    while url:
        response = client.get(url)
        seen += [r.pk for r in response.context["referrals"]]
        cursor = response.context["next_cursor"]
        url = f"{reverse('referrals:list')}?{urlencode({'after': cursor})}" if cursor else None
        assert len(seen) <= len(expected)
    assert seen == expected and len(expected) > 50


def test_a_partys_api_cursor_merges_sent_and_received_without_gaps_or_repeats(many, contact_person):
    from referrals.selectors import visible_referrals

    expected = list(visible_referrals(contact_person).order_by("-status_changed_at", "-pk")
                    .values_list("pk", flat=True))
    client, url, seen = api(contact_person), "/api/v1/referrals/", []
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        assert len(seen) <= len(expected)
    assert seen == expected and len(expected) > 50
    previous = client.get(client.get("/api/v1/referrals/").json()["next"]).json()["previous"]
    assert [row["id"] for row in client.get(previous).json()["results"]] == expected[:50]


def test_a_sides_page_reads_without_the_repeated_visibility_filter_and_leaves_the_list_untouched(
        directory, contact_person):
    import functools
    import operator

    from referrals.selectors import _without_filter, party_sides, visible_referrals

    listing = visible_referrals(contact_person).filter(status=Status.SUBMITTED)
    visibility = functools.reduce(operator.or_, party_sides(contact_person))
    side_base = _without_filter(listing, visibility)
    assert " OR " in str(listing.query)  # the rows are still read through the visibility filter
    assert " OR " not in str(side_base.query) and "submitted" in str(side_base.query)
    unrelated = visible_referrals(contact_person)
    assert _without_filter(unrelated, Q(status=Status.CLOSED)) is unrelated


def test_an_outsider_meets_only_referrals_of_their_own_institution_in_lists_api_and_start_page(
        many, outsider, client):
    # The generated referrals run between all institutions of the directory, the outsider's among them: of the
    # others' referrals, none may show (the lists read candidate ids first, then the rows).
    own = set(outsider.memberships.values_list("institution_id", flat=True))
    client.force_login(outsider)
    shown = [*client.get(reverse("referrals:list")).context["referrals"],
             *client.get(reverse("referrals:list"), {"status": "open"}).context["referrals"],
             *client.get(reverse("home")).context["open_cases"]]
    shown_api = api(outsider).get("/api/v1/referrals/").json()["results"]
    assert shown and shown_api
    assert all({r.referring_institution_id, r.receiving_institution_id} & own for r in shown)
    assert all(r.status != Status.DRAFT or r.referring_institution_id in own for r in shown)
    assert {row["id"] for row in shown_api} <= set(
        Referral.objects.filter(Q(referring_institution__in=own) | Q(receiving_institution__in=own))
        .values_list("pk", flat=True))


def test_a_referral_leaving_the_list_between_reading_ids_and_rows_leaves_no_short_page(
        make_referral, referrer, contact_person, monkeypatch):
    from referrals import selectors, services

    for _ in range(8):
        make_referral(status=Status.SUBMITTED)
    inbox = selectors.visible_referrals(contact_person).filter(status=Status.SUBMITTED)
    read_ids, withdrawn = selectors._first_ids, []

    def ids_then_a_withdrawal(queryset, sides, limit):
        ids = read_ids(queryset, sides, limit)
        if not withdrawn:  # someone withdraws a referral of the page while the page is read
            withdrawn.append(Referral.objects.get(pk=ids[0]))
            services.referral_withdraw(referral=withdrawn[0], actor=referrer, reason="Client moved away")
        return ids

    monkeypatch.setattr(selectors, "_first_ids", ids_then_a_withdrawal)
    rows, cursor = selectors.keyset_page(inbox, size=5, sides=selectors.party_sides(contact_person))
    assert len(rows) == 5 and cursor is not None  # a full page, and the way on: not taken for the last page
    assert withdrawn[0] not in rows
    rest, end = selectors.keyset_page(inbox, cursor=cursor, size=5, sides=selectors.party_sides(contact_person))
    assert len(rest) == 2 and end is None and not set(rows) & set(rest)


def test_a_page_that_keeps_changing_while_read_is_read_in_one_statement(make_referral, contact_person, monkeypatch):
    from referrals import selectors

    for _ in range(4):
        make_referral(status=Status.SUBMITTED)
    inbox = selectors.visible_referrals(contact_person).filter(status=Status.SUBMITTED)
    read_ids = selectors._first_ids
    monkeypatch.setattr(selectors, "_first_ids", lambda *args: [*read_ids(*args), 10**9])  # an id that never reads
    rows, cursor = selectors.keyset_page(inbox, size=3, sides=selectors.party_sides(contact_person))
    assert len(rows) == 3 and cursor is not None


def test_rows_are_merged_by_side_only_where_python_sorts_as_the_database_does(contact_person):
    from referrals.selectors import _order_keys, visible_referrals

    listing = visible_referrals(contact_person)
    assert _order_keys(listing.order_by("-status_changed_at", "-pk")) == [("status_changed_at", True), ("pk", True)]
    assert _order_keys(listing.order_by()) is None  # no explicit ordering
    assert _order_keys(listing.order_by("-status_changed_at", "-pk").reverse()) is None
    assert _order_keys(listing.order_by("reference")) is None  # text: collations differ
    assert _order_keys(listing.order_by("receiving_institution")) is None  # a relation sorts by its own ordering
