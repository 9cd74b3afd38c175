"""Logging in and out, the start page per role, the directory page and the Django admin for administrators."""

import pytest
from django.urls import reverse

from institutions.models import Institution, InstitutionKind, Membership, Municipality, User
from institutions.services import membership_set_roles
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("english_pages")  # assertions read the English source texts

# --- Login and logout ------------------------------------------------------------------------------------


def test_login_page_renders_with_labels(client, db):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label class="form-label" for="id_username">' in html
    assert '<label class="form-label" for="id_password">' in html
    assert 'id="id_username"' in html and 'id="id_password"' in html
    assert 'autocomplete="current-password"' in html


def test_the_ui_speaks_german_unless_asked_otherwise(client, db):
    del client.defaults["HTTP_ACCEPT_LANGUAGE"]
    client.cookies.pop("django_language", None)
    assert '<html lang="de">' in client.get(reverse("login")).content.decode()
    # Issue 12: an English browser alone does not make the product English; the language switch does.
    assert '<html lang="de">' in client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.cookies["django_language"] = "en"
    assert '<html lang="en">' in client.get(reverse("login")).content.decode()


def test_wrong_password_shows_an_error_and_keeps_the_user_name(client, referrer):
    response = client.post(reverse("login"), {"username": referrer.username, "password": "wrong"})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="error-summary"' in html
    assert "The user name or the password is wrong" in html
    assert f'value="{referrer.username}"' in html
    assert 'type="password" name="password" id="id_password" autocomplete="current-password" required>' in html
    assert "_auth_user_id" not in client.session


def test_login_goes_to_the_start_page(client, referrer):
    response = client.post(reverse("login"), {"username": referrer.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == "/"
    assert client.get("/").status_code == 200


def test_login_honours_next(client, referrer):
    response = client.post(reverse("login"), {"username": referrer.username, "password": PASSWORD,
                                              "next": reverse("referrals:list")})

    assert response.url == reverse("referrals:list")


def test_pages_need_a_login(client, db):
    for url in ("/", reverse("referrals:list"), reverse("referrals:create"), reverse("directory")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login") + "?next=")


def test_logout_by_post(client, referrer):
    client.force_login(referrer)
    assert 'action="/abmelden/"' in client.get("/").content.decode()

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get("/").status_code == 302


def test_logout_by_get_is_not_allowed(client, referrer):
    client.force_login(referrer)

    assert client.get(reverse("logout")).status_code == 405
    assert client.get("/").status_code == 200


# --- The start page explains what each role does ----------------------------------------------------------

CREATE_LINK = 'href="/faelle/neu/"'
KPI_LINK = 'href="/kennzahlen/"'


@pytest.mark.parametrize("persona, present, absent", [
    ("referrer", ["As a case worker", CREATE_LINK], ['id="inbox"', 'id="to-sign"', "As OPTIMA contact person",
                                                     "As signatory", KPI_LINK]),
    ("contact_person", ['id="inbox"', "As OPTIMA contact person", "As a case worker", CREATE_LINK],
     ['id="to-sign"', "As signatory", KPI_LINK]),
    ("receiving_worker", ["As a case worker", CREATE_LINK], ['id="inbox"', 'id="to-sign"']),
    ("signatory", ['id="to-sign"', "As signatory"], ['id="inbox"', "As a case worker", CREATE_LINK, KPI_LINK]),
    ("coordinator", ["As IIZ coordinator", KPI_LINK], ['id="inbox"', 'id="to-sign"', CREATE_LINK,
                                                        "As administrator"]),
    ("outsider", ['id="inbox"', 'id="to-sign"', "As a case worker", "As OPTIMA contact person", "As signatory"],
     [KPI_LINK]),
    ("administrator", ["As administrator", KPI_LINK, 'href="/admin/"'], ['id="inbox"', 'id="to-sign"']),
])
def test_start_page_explains_the_roles(client, personas, administrator, persona, present, absent):
    user = administrator if persona == "administrator" else personas[persona]
    client.force_login(user)

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    for text in present:
        assert text in html, text
    for text in absent:
        assert text not in html, text


def test_start_page_shows_the_institution_and_roles_in_the_header(client, contact_person):
    client.force_login(contact_person)

    html = client.get("/").content.decode()

    assert "WAS IV Luzern · Case worker, OPTIMA contact person" in html
    assert 'id="meetings"' in html and 'id="open-cases"' in html


def test_admin_link_only_for_staff(client, referrer):
    client.force_login(referrer)

    assert 'href="/admin/"' not in client.get("/").content.decode()


# --- The directory -----------------------------------------------------------------------------------------

def test_directory_lists_institutions_with_contact_persons(client, directory, referrer, contact_person, outsider,
                                                          signatory):
    directory["rav"].active = False
    directory["rav"].save()
    client.force_login(signatory)

    response = client.get(reverse("directory"))

    assert response.status_code == 200
    html = response.content.decode()
    for key in ("social", "iv", "third", "no_icm"):
        assert directory[key].name in html
    assert "RAV Luzern" not in html  # inactive
    assert "Iris Vogel, 041 000 00 00" in html  # WAS IV's contact person, with her phone
    assert "Otto Fischer" in html
    assert "Sandra Meier" not in html  # a case worker, not a contact person
    assert "no integral case management (no OPTIMA-SH)" in html
    assert 'href="tel:041 209 00 00"' in html
    assert "Luzern, Sursee" in html  # municipalities WAS IV serves


def test_directory_queries_do_not_grow_with_institutions(client, directory, referrer, contact_person,
                                                         django_assert_num_queries):
    client.force_login(referrer)
    with django_assert_num_queries(7):
        client.get(reverse("directory"))
    for i in range(5):
        institution = Institution.objects.create(key=f"extra-{i}", name=f"Extra {i}", kind=InstitutionKind.RAV)
        institution.municipalities.add(directory["luzern"])
        membership_set_roles(user=User.objects.create_user(f"extra{i}", first_name="E", last_name=str(i)),
                             institution=institution, roles=["contact_person"])

    # session, user, memberships, count (paginated, issue 14), institutions, their municipalities, contact persons
    with django_assert_num_queries(7):
        response = client.get(reverse("directory"))

    assert "Extra 4" in response.content.decode()


# --- The Django admin for administrators -------------------------------------------------------------------

ADMIN_MODELS = ["institution", "municipality", "membership", "user"]


def test_the_admin_role_makes_staff_and_superuser(administrator):
    administrator.refresh_from_db()
    assert administrator.is_staff and administrator.is_superuser


@pytest.mark.parametrize("model", ADMIN_MODELS)
@pytest.mark.parametrize("page", ["changelist", "add"])
def test_admin_pages_load(client, administrator, personas, model, page):
    client.force_login(administrator)

    response = client.get(reverse(f"admin:institutions_{model}_{page}"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_admin_change_pages_load(client, administrator, contact_person, directory, model):
    obj = {"institution": directory["iv"], "municipality": directory["luzern"],
           "membership": Membership.objects.get(user=contact_person), "user": contact_person}[model]
    client.force_login(administrator)

    response = client.get(reverse(f"admin:institutions_{model}_change", args=[obj.pk]))

    assert response.status_code == 200


@pytest.mark.parametrize("model, params, expected", [
    ("institution", {"q": "Luzern", "kind__exact": "iv"}, "WAS IV Luzern"),
    ("institution", {"q": "Sursee", "active__exact": "1", "integral_case_management__exact": "1"}, "SoBZ Sursee"),
    ("municipality", {"q": "Sursee"}, "Sursee"),
    ("municipality", {"q": "1061"}, "Luzern"),
    ("membership", {"q": "Vogel", "is_contact_person__exact": "1", "institution__kind__exact": "iv"}, "Iris Vogel"),
    ("user", {"q": "Vogel", "is_active__exact": "1", "memberships__institution__kind": "iv"}, "iv.kontakt"),
])
def test_admin_search_and_filters(client, administrator, personas, model, params, expected):
    client.force_login(administrator)

    response = client.get(reverse(f"admin:institutions_{model}_changelist"), params)

    assert response.status_code == 200
    assert expected in response.content.decode()
    assert response.context["cl"].result_count >= 1


def test_admin_membership_filter_by_institution(client, administrator, personas, directory):
    client.force_login(administrator)

    response = client.get(reverse("admin:institutions_membership_changelist"),
                          {"institution__id__exact": directory["third"].pk})

    assert response.status_code == 200
    assert [m.user.username for m in response.context["cl"].result_list] == ["sobz.beratung"]


def test_admin_autocomplete_for_memberships(client, administrator, contact_person):
    client.force_login(administrator)

    response = client.get(reverse("admin:autocomplete"), {
        "app_label": "institutions", "model_name": "membership", "field_name": "user", "term": "Vogel"})

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Iris Vogel"]


def test_admin_adds_a_municipality(client, administrator):
    client.force_login(administrator)

    response = client.post(reverse("admin:institutions_municipality_add"), {"name": "Emmen", "bfs_number": "1024"})

    assert response.status_code == 302
    assert Municipality.objects.filter(bfs_number=1024, name="Emmen").exists()


@pytest.mark.parametrize("persona", ["referrer", "contact_person", "signatory", "coordinator"])
def test_the_admin_is_closed_to_everyone_else(client, personas, persona):
    client.force_login(personas[persona])

    response = client.get(reverse("admin:institutions_institution_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
