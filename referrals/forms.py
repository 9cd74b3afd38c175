"""Forms of the referral pages. They validate input and hand it to the services; they decide nothing."""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from institutions.models import Institution, InstitutionKind, Municipality, ProblemArea, User
from institutions.validators import harden_form_fields, validate_phone
from optima.forms import SwissDateField, SwissDateInput, SwissDateTimeField, SwissDateTimeInput

from .ahv import AHV_EXAMPLE, normalize_ahv
from .models import (
    ClosureGround,
    ClosureOutcome,
    ConsentForm,
    ConsentWithdrawalChannel,
    DocumentKind,
    Language,
    MeetingDecision,
    RejectionReason,
)
from .rules import Situation

# Dates are typed as dd.mm.yyyy in every browser (issue 12); the old names stay for other modules.
DateInput = SwissDateInput
DateTimeInput = SwissDateTimeInput


def _date(label, help_text=""):
    return SwissDateField(label=label, required=False, help_text=help_text)


def _check(label, help_text=""):
    return forms.BooleanField(label=label, required=False, help_text=help_text)


class MunicipalityChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


# How many institutions besides the responsible ones the receiver list shows (issue 14: a national directory
# has thousands; rendering them all made the form 170 KB). A search finds the others.
OTHER_RECEIVERS_SHOWN = 40


class InstitutionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.get_kind_display()})"


class ReferralForm(forms.Form):
    """The application, in the order a case worker thinks: client, situation, who and why, consent.

    Every field is optional here so a draft can be saved at any point; what a submission needs is
    checked by the services (referrals.rules.assess) and shown next to the fields.
    """

    CLIENT_FIELDS = ["first_name", "last_name", "date_of_birth", "ahv_number", "municipality", "address", "phone",
                     "email", "preferred_language"]
    SITUATION_FIELDS = list(Situation.FIELDS)
    RECEIVER_FIELDS = ["receiving_institution", "mandate", "problem_areas", "planned_duration_months"]
    # Shown before the receiver; it only narrows and preselects the receiver list (not stored).
    RECEIVER_FORM_FIELDS = ["receiving_kind", "receiver_search", *RECEIVER_FIELDS]
    CONSENT_FIELDS = ["consent_given_on", "consent_form"]

    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    date_of_birth = _date(_("Date of birth"))
    ahv_number = forms.CharField(
        label=_("AHV number"), max_length=20, required=False,
        help_text=_("13 digits starting with 756, e.g. %(example)s. It identifies the client safely; "
                    "it is stored encrypted and shown masked.") % {"example": AHV_EXAMPLE},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "placeholder": "756."}),
    )
    municipality = MunicipalityChoiceField(
        label=_("Municipality of residence"), queryset=Municipality.objects.all(), required=False,
        help_text=_("The directory then suggests the institutions responsible for this municipality."),
    )
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False, validators=[validate_phone])
    email = forms.EmailField(label=_("E-mail"), required=False)
    preferred_language = forms.ChoiceField(label=_("Preferred language"), choices=Language.choices, initial="de")

    in_social_counselling = _check(_("In social counselling (personal social assistance)"))
    economic_social_assistance = _check(_("Receives economic social assistance"))
    registered_at_rav = _check(_("Registered at the RAV"))
    receives_unemployment_benefits = _check(_("Receives unemployment benefits (ALE)"))
    in_iv_integration = _check(_("In IV integration counselling or IV measures"))
    iv_procedure_running = _check(_("An IV procedure is running"),
                                  _("The IV is examining a claim (registration filed, no decision yet)."))
    iv_health_damage_suspected = _check(
        _("IV-relevant health damage is suspected"),
        _("A health problem that probably limits the ability to work for a long time. Then the regular IV "
          "registration is the right way, not OPTIMA."))
    last_iv_rejection_on = _date(_("Date of the last IV rejection"), _("Leave empty if there was none."))
    last_rav_registration_on = _date(_("Date of the last RAV registration"), _("Leave empty if there was none."))

    receiving_kind = forms.ChoiceField(
        label=_("Which kind of institution should take over?"), choices=InstitutionKind.choices, required=False,
        widget=forms.RadioSelect,
        help_text=_("The list below then shows the institutions of this kind responsible for the client's "
                    "municipality first, and chooses the only one for you."),
    )
    receiver_search = forms.CharField(
        label=_("Search an institution by name or place"), max_length=100, required=False,
        help_text=_("Only needed when the institution you want is not in the list below."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "type": "search"}),
    )
    receiving_institution = InstitutionChoiceField(
        label=_("Which institution should take over the case management?"),
        queryset=Institution.objects.filter(active=True), required=False,
    )
    mandate = forms.CharField(
        label=_("Mandate: what should the receiving institution achieve?"), required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Concrete and checkable, e.g. “Job coaching until a stable placement in the first labour "
                    "market”. The mandate is what the case is measured against at the end."),
    )
    problem_areas = forms.MultipleChoiceField(
        label=_("Problem areas (for social services)"), choices=ProblemArea.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Needed for a referral to social services (OPTIMA-SH): at least one."),
    )
    planned_duration_months = forms.IntegerField(
        label=_("Planned duration in months"), min_value=1, max_value=24, required=False, initial=6,
        help_text=_("Usually 3 or 6 months."),
    )
    consent_given_on = _date(_("Date of the client's consent"))
    consent_form = forms.ChoiceField(
        label=_("How did the client agree?"), choices=ConsentForm.choices, required=False, widget=forms.RadioSelect,
        help_text=_("OPTIMA is voluntary: the client must agree to the handover of their case."),
    )
    justification = forms.CharField(
        label=_("Justification"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Needed only when the check above shows a warning: why should the referral go ahead anyway?"),
    )

    def __init__(self, *args, referring_institution=None, **kwargs):
        super().__init__(*args, **kwargs)
        if referring_institution is not None:
            self.fields["receiving_institution"].queryset = Institution.objects.filter(active=True).exclude(
                pk=referring_institution.pk)
        self._arrange_receivers()

    def _raw(self, name):
        if self.is_bound:
            return self.data.get(self.add_prefix(name)) or ""
        value = self.initial.get(name)
        return str(getattr(value, "pk", value) or "")

    def _arrange_receivers(self):
        """Responsible institutions for the client's municipality first; with a kind chosen, only that kind,
        and the only responsible one of it preselected. The other institutions are listed up to
        OTHER_RECEIVERS_SHOWN (a national directory has thousands): the search narrows them by name or place."""
        field = self.fields["receiving_institution"]
        kind = self._raw("receiving_kind")
        candidates = field.queryset.order_by("kind", "name")
        if kind in InstitutionKind.values:
            candidates = candidates.filter(kind=kind)
        municipality = self._raw("municipality")
        responsible = []
        if municipality.isdigit():
            responsible = list(candidates.filter(municipalities=int(municipality)))
        others = candidates.exclude(pk__in=[i.pk for i in responsible])
        search = self._raw("receiver_search").strip()[:100]
        if search:
            others = others.filter(Q(name__icontains=search) | Q(municipalities__name__icontains=search)).distinct()
        shown = list(others[:OTHER_RECEIVERS_SHOWN + 1])
        self.more_receivers = len(shown) > OTHER_RECEIVERS_SHOWN
        shown = shown[:OTHER_RECEIVERS_SHOWN]
        chosen = self._raw("receiving_institution")
        listed = {str(i.pk) for i in (*responsible, *shown)}
        if chosen.isdigit() and chosen not in listed:
            # A choice made before (a saved draft, another search) stays selectable.
            shown += list(candidates.filter(pk=int(chosen)))
            listed = {str(i.pk) for i in (*responsible, *shown)}

        def options(items):
            return [(i.pk, field.label_from_instance(i)) for i in items]

        if responsible:
            name = Municipality.objects.filter(pk=int(municipality)).values_list("name", flat=True).first()
            field.choices = [("", _("Choose an institution")),
                             (_("Responsible for %(name)s") % {"name": name}, options(responsible)),
                             (_("Other institutions"), options(shown))]
        else:
            field.choices = [("", _("Choose an institution")), *options(shown)]
        # With a kind chosen: the only responsible institution of it, or the only one of it at all.
        alone = shown if not search and not self.more_receivers and len(shown) == 1 else []
        only = responsible if len(responsible) == 1 else alone
        if kind in InstitutionKind.values and only and chosen not in listed:
            if self.is_bound:
                self.data = self.data.copy()
                self.data[self.add_prefix("receiving_institution")] = str(only[0].pk)
            else:
                self.initial["receiving_institution"] = only[0].pk

    def clean_ahv_number(self):
        value = (self.cleaned_data.get("ahv_number") or "").strip()
        return normalize_ahv(value) if value else ""

    def client_data(self):
        return {name: self.cleaned_data.get(name) for name in self.CLIENT_FIELDS}

    def referral_data(self):
        names = self.SITUATION_FIELDS + self.RECEIVER_FIELDS + self.CONSENT_FIELDS + ["justification"]
        return {name: self.cleaned_data.get(name) for name in names}

    def sections(self):
        """The form's sections in the order people think, for the template."""
        return [
            ("client", _("1. The client"), _("Who is the person? The AHV number finds them again later."),
             [self[name] for name in self.CLIENT_FIELDS]),
            ("situation", _("2. The situation today"),
             _("Tick what applies now. The answers decide the OPTIMA process, the target group and the criteria."),
             [self[name] for name in self.SITUATION_FIELDS]),
            ("receiver", _("3. Who should take over, and why"),
             _("Choose the institution best placed to help, and say what it should achieve."),
             [self[name] for name in self.RECEIVER_FORM_FIELDS]),
            ("consent", _("4. Consent"), _("Participation is voluntary: record the client's agreement."),
             [self[name] for name in self.CONSENT_FIELDS]),
        ]


class AcceptForm(forms.Form):
    case_worker = forms.ModelChoiceField(
        label=_("Case worker who will lead the case"), queryset=User.objects.none(),
        help_text=_("This person becomes the client's case manager and the referrer's contact."),
    )

    def __init__(self, *args, institution=None, **kwargs):
        super().__init__(*args, **kwargs)
        from institutions.models import Role
        from institutions.selectors import institution_members_with_role

        if institution is not None:
            self.fields["case_worker"].queryset = institution_members_with_role(institution, Role.CASE_WORKER)
        self.fields["case_worker"].label_from_instance = lambda u: u.get_full_name() or u.username
        self.fields["case_worker"].empty_label = _("Choose a case worker")


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=RejectionReason.choices, widget=forms.RadioSelect)
    reason_text = forms.CharField(
        label=_("Explanation"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required for “Other”; helps the referrer and the evaluation understand the decision."),
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Why is the referral withdrawn?"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))


class CommentForm(forms.Form):
    text = forms.CharField(label=_("Your question or comment"), widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Visible to both institutions. Prefer the phone for urgent matters."))


class ScheduleMeetingForm(forms.Form):
    scheduled_at = SwissDateTimeField(label=_("Date and time"))
    location = forms.CharField(label=_("Place"), required=False, max_length=200)


class HandoverForm(forms.Form):
    held_on = SwissDateField(label=_("The handover meeting took place on"))
    all_agreed = forms.TypedChoiceField(
        label=_("Do the client, the referring and the receiving case worker all agree to the note?"),
        choices=[("yes", _("Yes – OPTIMA starts")), ("no", _("No – OPTIMA does not start"))],
        coerce=lambda v: v == "yes", widget=forms.RadioSelect,
    )
    case_work_starts_on = _date(_("Case work starts on"))
    strategy = forms.CharField(label=_("Strategy and planned measures"), required=False,
                               widget=forms.Textarea(attrs={"rows": 3}))
    first_status_meeting_on = _date(_("Date of the first status meeting"))
    client_able_and_willing = forms.BooleanField(
        label=_("The client states that they can and want to work"), required=False,
        help_text=_("Required for OPTIMA-ALV (handover to the RAV)."))


class StatusMeetingForm(forms.Form):
    held_on = SwissDateField(label=_("The status meeting took place on"))
    progress = forms.CharField(label=_("Progress since the last meeting"), widget=forms.Textarea(attrs={"rows": 3}))
    next_steps = forms.CharField(label=_("Next steps and measures"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    decision = forms.ChoiceField(label=_("Decision"), choices=MeetingDecision.choices, widget=forms.RadioSelect)
    next_meeting_on = _date(_("Next status meeting on"), _("Required when the case continues."))
    outcome = forms.ChoiceField(label=_("Outcome of the mandate"), required=False,
                                choices=[("", "—"), *ClosureOutcome.choices],
                                help_text=_("Required when the case is closed."))
    ground = forms.ChoiceField(label=_("Ground for closing"), required=False,
                               choices=[("", "—"), *ClosureGround.choices])
    outcome_text = forms.CharField(label=_("Explanation"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                   help_text=_("Required for “Other”. Hand important documents (e.g. a copy of the "
                                               "employment contract) to the referrer."))


class CostApprovalForm(forms.Form):
    measure = forms.CharField(label=_("Measure"), max_length=200, help_text=_("e.g. job coaching, work trial"))
    provider = forms.CharField(label=_("Provider"), max_length=200)
    amount_chf = forms.DecimalField(label=_("Amount in CHF"), min_value=0, max_digits=10, decimal_places=2,
                                    localize=False, widget=forms.NumberInput(attrs={"step": "0.05"}))
    starts_on = SwissDateField(label=_("From"))
    ends_on = SwissDateField(label=_("Until"))
    justification = forms.CharField(label=_("Justification"), widget=forms.Textarea(attrs={"rows": 3}))
    financing_institution = InstitutionChoiceField(
        label=_("Who pays (financing institution)"), queryset=Institution.objects.none(), required=False,
        empty_label=None,
        help_text=_("The institution where the client is entitled to benefits – normally the referrer. Choose the "
                    "other one only with a reason, e.g. the IV pays an IV measure."))
    financing_reason = forms.CharField(
        label=_("Why this institution pays"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only needed if not the referrer pays."))

    def __init__(self, *args, referral=None, planned_measures=None, **kwargs):
        super().__init__(*args, **kwargs)
        if referral is not None:
            parties = [i for i in (referral.referring_institution, referral.receiving_institution) if i is not None]
            field = self.fields["financing_institution"]
            field.queryset = Institution.objects.filter(pk__in=[i.pk for i in parties])
            field.choices = [(i.pk, i.name) for i in parties]  # rendered from the loaded rows, no query
            field.initial = referral.referring_institution_id
            if planned_measures is None:
                planned_measures = list(referral.measures.filter(status="planned"))
        if planned_measures:
            measure_field = forms.ModelChoiceField(
                label=_("For the planned measure"), required=False, queryset=referral.measures.filter(status="planned"),
                empty_label=_("– a new measure, as described above –"),
                help_text=_("If the approval is for a measure already planned, choose it."))
            measure_field.choices = [("", measure_field.empty_label), *((m.pk, m.title) for m in planned_measures)]
            self.fields["covered_measure"] = measure_field


def _amount_field(label):
    return forms.DecimalField(label=label, max_digits=10, decimal_places=2, localize=False,
                              widget=forms.NumberInput(attrs={"step": "0.05"}),
                              help_text=_("In CHF, greater than 0 and at most 1'000'000.00, e.g. 1800.00"))


class MeasureForm(forms.Form):
    title = forms.CharField(label=_("Measure"), max_length=200, help_text=_("e.g. job coaching, work trial"))
    provider = forms.CharField(label=_("Provider"), max_length=200)
    amount_chf = _amount_field(_("Amount in CHF"))
    starts_on = SwissDateField(label=_("From"))
    ends_on = SwissDateField(label=_("Until"))


class NewInvoiceForm(forms.Form):
    measure = forms.ModelChoiceField(label=_("For the measure"), queryset=None)
    number = forms.CharField(label=_("Invoice number"), max_length=60)
    invoice_date = SwissDateField(label=_("Invoice date"))
    amount_chf = _amount_field(_("Invoiced amount in CHF"))
    file = forms.FileField(label=_("The invoice as a file (optional)"), required=False)
    over_budget_reason = forms.CharField(
        label=_("Why more than approved (only if so)"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, referral=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["measure"].queryset = referral.measures.all() if referral is not None else None


class RefuseCostApprovalForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the refusal"), widget=forms.Textarea(attrs={"rows": 2}))


class InvoiceForm(forms.Form):
    received_on = SwissDateField(label=_("Invoice received on"))
    forwarded_on = _date(_("Forwarded to the financing institution on"))


class DocumentForm(forms.Form):
    file = forms.FileField(label=_("File"))
    kind = forms.ChoiceField(label=_("Kind of document"), choices=DocumentKind.choices, initial=DocumentKind.OTHER)


class PersonalDataForm(forms.Form):
    """'Personalien ändern': the client's personal data on one sent referral, changed on purpose."""

    FIELDS = ReferralForm.CLIENT_FIELDS

    first_name = forms.CharField(label=_("First name"), max_length=100)
    last_name = forms.CharField(label=_("Last name"), max_length=100)
    date_of_birth = _date(_("Date of birth"))
    ahv_number = forms.CharField(
        label=_("AHV number"), max_length=20, help_text=ReferralForm.base_fields["ahv_number"].help_text,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
    municipality = MunicipalityChoiceField(label=_("Municipality of residence"), queryset=Municipality.objects.all(),
                                           required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False, max_length=254)
    preferred_language = forms.ChoiceField(label=_("Preferred language"), choices=Language.choices)

    def clean_ahv_number(self):
        return normalize_ahv((self.cleaned_data.get("ahv_number") or "").strip())

    @classmethod
    def initial_from(cls, client):
        initial = {name: getattr(client, name) for name in cls.FIELDS if name not in ("ahv_number", "municipality")}
        initial["ahv_number"], initial["municipality"] = client.ahv_number, client.municipality_id
        return initial


class ConsentWithdrawalForm(forms.Form):
    withdrawn_on = SwissDateField(label=_("The client withdrew consent on"))
    channel = forms.ChoiceField(label=_("How did you learn of it?"), choices=ConsentWithdrawalChannel.choices,
                                widget=forms.RadioSelect)
    note = forms.CharField(label=_("Note (optional)"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("Only the referring institution sees this note: after a withdrawal the "
                                       "receiving institution sees the case without personal data or texts."))
# Every text field refuses control characters; free texts are limited to 5,000 characters (with a counter).
harden_form_fields(ReferralForm, RejectForm, WithdrawForm, CommentForm, ScheduleMeetingForm, HandoverForm,
                   StatusMeetingForm, CostApprovalForm, RefuseCostApprovalForm,
                   PersonalDataForm, ConsentWithdrawalForm)


def apply_service_errors(form, error):
    """Put a service's ValidationError next to the fields it names; the rest on top of the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            target = field if field in form.fields else None
            for message in errors:
                form.add_error(target, message)
    else:
        for message in error.messages:
            form.add_error(None, message)


__all__ = ["ValidationError"]
