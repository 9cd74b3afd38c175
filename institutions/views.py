from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import forms, selectors, services
from .directory_import import DirectoryImportError, apply_directory, load_directory
from .models import Institution, Municipality
from .selectors import institutions_for_directory

DIRECTORY_PAGE_SIZE = 30


@login_required
def directory(request):
    # Searched and paginated (issue 14): a national directory has hundreds of institutions.
    query = (request.GET.get("q") or "").strip()[:100]
    page = Paginator(institutions_for_directory(query=query), DIRECTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "institutions/directory.html", {"institutions": page.object_list, "page": page,
                                                           "query": query})


@require_POST
def set_language(request):
    """The language switch in the header: remembered on the user (and in a cookie before logging in)."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    if language not in dict(settings.LANGUAGES):
        return redirect(next_url)
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, actor=request.user, language=language)
    response = redirect(next_url)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE or 31536000,
                        samesite="Lax", secure=request.is_secure(), httponly=True)
    return response


# --- The directory page for administrators (issue 12) ---------------------------------------------------------

def _admin_only(request):
    if not selectors.user_administers_directory(request.user):
        raise PermissionDenied(_("Only administrators keep the directory."))


@login_required
def directory_admin(request):
    _admin_only(request)
    query = request.GET.get("q", "")
    return render(request, "institutions/admin_list.html", {
        "institutions": list(selectors.institutions_for_admin(query)), "query": query,
        "import_form": forms.ImportDryRunForm(),
    })


@login_required
def institution_create(request):
    return _institution_page(request, None)


@login_required
def institution_edit(request, pk):
    return _institution_page(request, get_object_or_404(Institution, pk=pk))


def _institution_page(request, institution):
    _admin_only(request)
    memberships = selectors.institution_people(institution) if institution else []
    if institution is None:
        formset_class, people_initial = forms.NewPersonFormSet, forms.NEW_PERSON_INITIAL
        initial = {}
    else:
        formset_class, people_initial = forms.PersonFormSet, forms.people_initial(memberships)
        initial = forms.InstitutionForm.initial_for(institution)
    form = forms.InstitutionForm(request.POST or None, initial=initial)
    people = formset_class(request.POST or None, initial=people_initial, prefix="people")
    status = 200
    if request.method == "POST":
        if form.is_valid() and people.is_valid():
            users = {m.user_id: m.user for m in memberships}
            try:
                saved = services.institution_save(
                    actor=request.user, institution=institution, data=form.institution_data(),
                    municipalities=form.cleaned_data["municipalities"], people=people.person_data(users))
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("%(name)s saved. Every change is recorded in its history below.")
                                 % {"name": saved.name})
                return redirect("institution_edit", pk=saved.pk)
        status = 400
        messages.error(request, _("Nothing was saved yet: please correct the points listed below. "
                                  "Your input is kept."))
    return render(request, "institutions/admin_form.html", {
        "institution": institution, "form": form, "people": people,
        "municipalities": Municipality.objects.order_by("name"),
        "history": selectors.institution_history(institution) if institution else [],
        "protected": selectors.institution_protected_count(institution) if institution else 0,
        "error_forms": [form, *people.forms],
    }, status=status)


@login_required
@require_POST
def institution_remove(request, pk):
    _admin_only(request)
    institution = get_object_or_404(Institution, pk=pk)
    if request.POST.get("reactivate"):
        services.institution_reactivate(actor=request.user, institution=institution)
        messages.success(request, _("%(name)s is active again.") % {"name": institution.name})
        return redirect("institution_edit", pk=pk)
    result = services.institution_remove(actor=request.user, institution=institution)
    if result == "deactivated":
        messages.success(request, _("%(name)s is deactivated: it has referrals, so it stays in their history but "
                                    "is no longer offered as a receiver.") % {"name": institution.name})
        return redirect("institution_edit", pk=pk)
    messages.success(request, _("%(name)s deleted.") % {"name": institution.name})
    return redirect("directory_admin")


@login_required
@require_POST
def directory_import_dry_run(request):
    """The YAML import's dry run as an upload: shows what the import would change, saves nothing."""
    _admin_only(request)
    form = forms.ImportDryRunForm(request.POST, request.FILES)
    result, error = None, ""
    if form.is_valid():
        try:
            text = form.cleaned_data["file"].read().decode("utf-8-sig")
        except UnicodeDecodeError:
            error = _("The file is not a UTF-8 text file.")
        else:
            try:
                result = apply_directory(load_directory(text), dry_run=True)
            except DirectoryImportError as exc:
                error = str(exc)
    return render(request, "institutions/admin_list.html", {
        "institutions": list(selectors.institutions_for_admin("")), "query": "", "import_form": form,
        "import_result": result, "import_error": error,
    }, status=200 if result is not None else 400)
