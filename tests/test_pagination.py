"""Keyset (cursor) pagination of the referral list API (issue 14)."""

import pytest
from rest_framework.test import APIClient

from referrals.models import Status
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
    assert len(seen) == len(set(seen)) == client.get("/api/v1/referrals/").json()["count"] > 100


def test_page_numbers_still_work_with_count(many):
    body = api(many).get("/api/v1/referrals/?page=2").json()
    assert body["count"] > 100 and len(body["results"]) == 50


def test_a_broken_cursor_is_a_404_in_json(many):
    response = api(many).get("/api/v1/referrals/?cursor=nonsense")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_cursor_page_costs_no_count_query(many, django_assert_num_queries):
    client = api(many)
    # memberships, page, access log (no COUNT, no OFFSET)
    with django_assert_num_queries(3):
        assert client.get("/api/v1/referrals/?cursor=").status_code == 200


def test_cursor_keeps_the_filters(many):
    body = api(many).get(f"/api/v1/referrals/?cursor=&status={Status.CLOSED}").json()
    assert body["results"] and {row["status"] for row in body["results"]} == {Status.CLOSED}
