"""Forms of the directory page for administrators (issue 12). They validate; the services write."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from optima.languages import PRODUCT_LANGUAGES

from .models import Institution, InstitutionKind, Municipality, ProblemArea, Role

_SPLIT = re.compile(r"[,;\n]+")
_WITH_BFS = re.compile(r"^(?P<name>.*?)\s*\((?P<bfs>\d+)\)\s*$")


def municipality_label(municipality):
    return f"{municipality.name} ({municipality.bfs_number})"


class InstitutionForm(forms.Form):
    name = forms.CharField(label=_("Name of the institution"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=InstitutionKind.choices, widget=forms.RadioSelect)
    email = forms.EmailField(label=_("Shared e-mail address"), required=False,
                             help_text=_("Receives the notifications when no contact person is named."))
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    address = forms.CharField(label=_("Address"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    municipalities = forms.CharField(
        label=_("Municipalities served"), required=False,
        widget=forms.TextInput(attrs={"list": "municipality-options", "autocomplete": "off",
                                      "data-multi-datalist": "1"}),
        help_text=_("Type a name or the BFS number (the official number of the Federal Statistical Office, "
                    "e.g. 1061 for Luzern) and pick from the suggestions; separate several with commas."),
    )
    integral_case_management = forms.BooleanField(
        label=_("Offers integral case management"), required=False,
        help_text=_("Social services only: OPTIMA-SH referrals are possible only where this is offered."))
    topics = forms.MultipleChoiceField(
        label=_("Topics (social services)"), choices=ProblemArea.choices, required=False,
        widget=forms.CheckboxSelectMultiple)

    def clean_municipalities(self):
        text = self.cleaned_data.get("municipalities") or ""
        tokens = [t.strip() for t in _SPLIT.split(text) if t.strip()]
        found, unknown = [], []
        for token in tokens:
            match = _WITH_BFS.match(token)
            query = Municipality.objects.none()
            if match:
                query = Municipality.objects.filter(bfs_number=int(match["bfs"]))
            elif token.isdigit():
                query = Municipality.objects.filter(bfs_number=int(token))
            else:
                query = Municipality.objects.filter(name__iexact=token)
            municipality = query.first()
            if municipality is None:
                unknown.append(token)
            elif municipality not in found:
                found.append(municipality)
        if unknown:
            raise forms.ValidationError(
                _("Not found: %(names)s. Type the name or the BFS number and choose from the suggestions.")
                % {"names": ", ".join(unknown)})
        return found

    @classmethod
    def initial_for(cls, institution):
        return {
            "name": institution.name, "kind": institution.kind, "email": institution.email,
            "phone": institution.phone, "address": institution.address,
            "municipalities": ", ".join(municipality_label(m) for m in institution.municipalities.all()),
            "integral_case_management": institution.integral_case_management, "topics": institution.topics,
        }

    def institution_data(self):
        return {name: self.cleaned_data.get(name) for name in
                ("name", "kind", "address", "email", "phone", "integral_case_management", "topics")}


ROLE_CHOICES = [(Role.CONTACT_PERSON, _("OPTIMA contact person (receives and decides on referrals)")),
                (Role.CASE_WORKER, _("Case worker (files referrals, leads cases)")),
                (Role.SIGNATORY, _("Signatory (signs cost approvals)")),
                (Role.COORDINATOR, _("IIZ coordinator (sees the key figures)")),
                (Role.ADMIN, _("Administrator (keeps this directory)"))]


class PersonForm(forms.Form):
    user_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False,
                             help_text=_("Notifications go here; it also identifies the person."))
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    language = forms.ChoiceField(label=_("Language"), required=False,
                                 choices=[("", _("German (default)")), *PRODUCT_LANGUAGES],
                                 help_text=_("Of the pages and of the e-mails to this person."))
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=ROLE_CHOICES, required=False,
                                      widget=forms.CheckboxSelectMultiple)
    remove = forms.BooleanField(label=_("Remove this person from the institution"), required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("remove") or not self.has_changed():
            return cleaned
        for name, message in (("last_name", _("Enter the last name.")), ("email", _("Enter the e-mail address.")),
                              ("roles", _("Choose at least one role."))):
            if not cleaned.get(name) and name not in self.errors:
                self.add_error(name, message)
        return cleaned


class BasePersonFormSet(forms.BaseFormSet):
    def person_data(self, users_by_id):
        people = []
        for form in self.forms:
            if not form.has_changed() or not hasattr(form, "cleaned_data"):
                continue
            data = dict(form.cleaned_data)
            data["user"] = users_by_id.get(data.pop("user_id", None))
            people.append(data)
        return people


PersonFormSet = forms.formset_factory(PersonForm, formset=BasePersonFormSet, extra=1)
# A new institution starts with one person, preset as contact person and case worker.
NewPersonFormSet = forms.formset_factory(PersonForm, formset=BasePersonFormSet, extra=0)
NEW_PERSON_INITIAL = [{"roles": [Role.CONTACT_PERSON, Role.CASE_WORKER]}]


def people_initial(memberships):
    return [{"user_id": m.user_id, "first_name": m.user.first_name, "last_name": m.user.last_name,
             "email": m.user.email, "phone": m.user.phone, "language": m.user.language, "roles": list(m.roles)}
            for m in memberships]


class ImportDryRunForm(forms.Form):
    file = forms.FileField(label=_("Directory file (YAML)"),
                           help_text=_("The same file as for the import command. Nothing is saved: the page "
                                       "shows what the import would change."))


__all__ = ["Institution", "InstitutionForm", "PersonFormSet", "NewPersonFormSet", "ImportDryRunForm"]
