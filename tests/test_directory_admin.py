"""Issue 12: the directory page for administrators - institutions with their people on one page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from institutions import services as institution_services
from institutions.models import Institution, Membership, User
from referrals.models import Status

pytestmark = pytest.mark.usefixtures("english_pages")  # assertions read the English source texts


def new_institution_post(directory, **overrides):
    data = {
        "name": "RAV Kriens", "kind": "rav", "email": "rav.kriens@example.ch", "phone": "041 000 11 22",
        "address": "", "municipalities": f"Luzern ({directory['luzern'].bfs_number}), 1103",
        "people-TOTAL_FORMS": "1", "people-INITIAL_FORMS": "1", "people-MIN_NUM_FORMS": "0",
        "people-MAX_NUM_FORMS": "1000",
        "people-0-first_name": "Rita", "people-0-last_name": "Kunz", "people-0-email": "rita.kunz@example.ch",
        "people-0-phone": "041 000 11 23", "people-0-roles": ["contact_person", "case_worker"],
        "people-0-language": "fr-ch",
    }
    data.update(overrides)
    return data


def test_only_administrators_reach_the_directory_page(client, referrer, administrator):
    client.force_login(referrer)
    assert client.get(reverse("directory_admin")).status_code == 403
    assert client.get(reverse("institution_create")).status_code == 403
    client.force_login(administrator)
    assert client.get(reverse("directory_admin")).status_code == 200


def test_the_django_admin_is_for_superusers_only(client, referrer, administrator):
    referrer.is_staff = True
    referrer.save()
    client.force_login(referrer)
    assert client.get("/admin/").status_code == 302  # to the admin's login: no access
    superuser = User.objects.create_superuser("root", "root@example.ch", "x")
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200


def test_list_and_search_by_name_municipality_or_bfs(client, administrator, directory, django_assert_num_queries):
    client.force_login(administrator)
    html = client.get(reverse("directory_admin")).content.decode()
    assert "WAS IV Luzern" in html and "SoBZ Sursee" in html
    html = client.get(reverse("directory_admin"), {"q": "1103"}).content.decode().split("<table")[1]
    assert "SoBZ Sursee" in html and "RAV Luzern" not in html
    html = client.get(reverse("directory_admin"), {"q": "sursee"}).content.decode().split("<table")[1]
    assert "WAS IV Luzern" in html and "Sozialdienste Stadt Luzern" not in html
    client.get(reverse("directory_admin"))
    with django_assert_num_queries(5):
        client.get(reverse("directory_admin"))
    Institution.objects.create(key="x1", name="Extra 1", kind="rav")
    Institution.objects.create(key="x2", name="Extra 2", kind="iv")
    with django_assert_num_queries(5):
        client.get(reverse("directory_admin"))


def test_new_institution_with_its_contact_person_on_one_page_and_the_change_recorded(
        client, administrator, directory):
    client.force_login(administrator)
    page = client.get(reverse("institution_create")).content.decode()
    assert 'id="municipality-options"' in page and "Luzern (1061)" in page
    assert 'value="contact_person"' in page and "checked" in page.split('value="contact_person"')[1][:40]

    response = client.post(reverse("institution_create"), new_institution_post(directory))
    assert response.status_code == 302
    institution = Institution.objects.get(name="RAV Kriens")
    assert institution.key == "rav-kriens"
    assert set(institution.municipalities.values_list("name", flat=True)) == {"Luzern", "Sursee"}
    membership = Membership.objects.get(institution=institution)
    assert membership.user.email == "rita.kunz@example.ch" and membership.user.phone == "041 000 11 23"
    assert membership.user.language == "fr-ch"  # her pages and e-mails in French
    assert membership.is_contact_person and membership.is_case_worker and not membership.is_admin
    assert not membership.user.has_usable_password()
    record = institution.history.earliest()
    assert record.history_user == administrator and record.history_type == "+"

    html = client.get(response["Location"]).content.decode()
    assert "Change history" in html and "Adrian Widmer" in html


def test_editing_records_who_changed_what(client, administrator, directory):
    client.force_login(administrator)
    iv = directory["iv"]
    data = {"name": iv.name, "kind": "iv", "email": "neu@example.ch", "phone": iv.phone, "address": "",
            "municipalities": "Luzern", "people-TOTAL_FORMS": "1", "people-INITIAL_FORMS": "0",
            "people-MIN_NUM_FORMS": "0", "people-MAX_NUM_FORMS": "1000"}
    assert client.post(reverse("institution_edit", args=[iv.pk]), data).status_code == 302
    iv.refresh_from_db()
    assert iv.email == "neu@example.ch"
    html = client.get(reverse("institution_edit", args=[iv.pk])).content.decode()
    history = html.split('data-testid="history"')[1]
    assert "Adrian Widmer" in history and "shared e-mail" in history


def test_bad_input_lists_every_problem_and_keeps_what_was_typed(client, administrator, directory):
    client.force_login(administrator)
    response = client.post(reverse("institution_create"), new_institution_post(
        directory, name="", municipalities="Atlantis, 1061", **{"people-0-email": ""}))
    assert response.status_code == 400
    html = response.content.decode()
    summary = html.split('id="error-summary"')[1].split("</ul>")[0]
    assert "Name of the institution" in summary and "Atlantis" in summary and "E-mail" in summary
    assert 'value="Rita"' in html
    assert not Institution.objects.filter(name="RAV Kriens").exists()


def test_an_institution_with_referrals_is_deactivated_instead_of_deleted(client, administrator, make_referral,
                                                                        directory):
    make_referral(Status.SUBMITTED)
    client.force_login(administrator)
    iv = directory["iv"]
    html = client.get(reverse("institution_edit", args=[iv.pk])).content.decode()
    assert "Deactivate institution" in html and "Delete institution" not in html
    client.post(reverse("institution_remove", args=[iv.pk]))
    iv.refresh_from_db()
    assert iv.active is False
    # without referrals it can be deleted
    no_icm = directory["no_icm"]
    assert "Delete institution" in client.get(reverse("institution_edit", args=[no_icm.pk])).content.decode()
    client.post(reverse("institution_remove", args=[no_icm.pk]))
    assert not Institution.objects.filter(pk=no_icm.pk).exists()


def test_only_administrators_may_save_through_the_service(referrer, directory, english):
    with pytest.raises(Exception, match="administrators"):
        institution_services.institution_save(actor=referrer, data={"name": "X", "kind": "rav"},
                                              municipalities=[], people=[])


def test_the_yaml_dry_run_shows_what_would_change_and_saves_nothing(client, administrator, directory):
    client.force_login(administrator)
    yaml_text = ("municipalities:\n  - {bfs: 1059, name: Kriens}\n"
                 "institutions:\n  - {key: rav-kriens, name: RAV Kriens, kind: rav, email: k@example.ch,"
                 " municipalities: [1059]}\n")
    upload = SimpleUploadedFile("directory.yaml", yaml_text.encode(), content_type="application/x-yaml")
    response = client.post(reverse("directory_import_dry_run"), {"file": upload})
    html = response.content.decode()
    assert response.status_code == 200, html
    assert "Dry run: nothing was saved." in html and "Kriens" in html
    assert not Institution.objects.filter(key="rav-kriens").exists()

    broken = SimpleUploadedFile("broken.yaml", b"institutions: [", content_type="application/x-yaml")
    response = client.post(reverse("directory_import_dry_run"), {"file": broken})
    assert response.status_code == 400
    assert 'data-testid="import-error"' in response.content.decode()
