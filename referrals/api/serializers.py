"""What goes over the wire. Input serializers check shape and types only; the services decide the rest."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from institutions.models import Institution, InstitutionKind, Municipality, ProblemArea, Role
from institutions.validators import (
    MAX_TEXT_LENGTH,
    validate_email_address,
    validate_no_control_characters,
    validate_phone,
)
from referrals import permissions
from referrals.ahv import normalize_ahv
from referrals.models import (
    ClosureGround,
    ClosureOutcome,
    ConsentForm,
    ConsentWithdrawalChannel,
    CostApprovalStatus,
    DocumentKind,
    EventKind,
    Language,
    Measure,
    MeetingDecision,
    Process,
    RejectionReason,
    Status,
)
from referrals.rules import Situation

TARGET_GROUPS = [(group, group) for group in "ABCDEFGHI"]
MAX_ID = 2**63 - 1  # larger numbers cannot be stored; looking them up would overflow the database driver


class BoundedLookupMixin:
    """Ids as JSON integers; "does not exist" for numbers no row can have (the database driver would overflow)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 <= data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data, slug_name=getattr(self, "slug_field", ""), value=data)
        return super().to_internal_value(data)


class StrictTypeMixin:
    """JSON input of exactly the documented type: no "5" for 5, no 1 for true, no 5 for "5".

    DRF's fields coerce types for HTML forms; over JSON that would accept what the schema rejects.
    (Dates need nothing: DRF's DateField accepts only ISO strings already.)
    """

    json_types = (str,)

    def to_internal_value(self, data):
        if isinstance(data, bool) != (bool in self.json_types) or not isinstance(data, self.json_types):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StrictTypeMixin, serializers.CharField):
    """Text without control characters and, unless the field says otherwise, at most 5,000 characters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_TEXT_LENGTH)
        super().__init__(**kwargs)
        self.validators.append(validate_no_control_characters)


class StrictIntegerField(StrictTypeMixin, serializers.IntegerField):
    json_types = (int,)


class StrictBooleanField(StrictTypeMixin, serializers.BooleanField):
    json_types = (bool,)


class StrictDecimalField(StrictTypeMixin, serializers.DecimalField):
    """Amounts as strings, like the answers show them: "1800.00"."""


class NullableRef(serializers.Field):
    """A read-only nested object that may be null: documented as oneOf [object, null], which OpenAPI 3.0
    validators read unambiguously (``allOf`` with ``nullable`` is not nullable under OpenAPI 3.0.3)."""

    def __init__(self, serializer_class, **kwargs):
        self.serializer_class = serializer_class
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        # One serializer for every row: building one per row deep-copied its fields each time, a third of the
        # referral list's time at 50 rows (issue 14).
        if getattr(self, "_serializer", None) is None:
            self._serializer = self.serializer_class(context=self.context)
        return self._serializer.to_representation(value)


class NullableRefExtension(OpenApiSerializerFieldExtension):
    target_class = NullableRef

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(self.target.serializer_class, direction)
        null = ResolvedComponent(name="NullEnum", type=ResolvedComponent.SCHEMA, object="NullEnum",
                                 schema={"enum": [None]})
        auto_schema.registry.register_on_missing(null)
        return {"oneOf": [component.ref, null.ref]}


class InstitutionField(BoundedLookupMixin, serializers.PrimaryKeyRelatedField):
    pass


class MeasureField(BoundedLookupMixin, serializers.PrimaryKeyRelatedField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Measure.objects.all(), **kwargs)


class MunicipalityField(BoundedLookupMixin, serializers.SlugRelatedField):
    default_error_messages = {"incorrect_type": _("Incorrect type. Expected a BFS number, received {data_type}.")}

    def __init__(self, **kwargs):
        super().__init__(slug_field="bfs_number", queryset=Municipality.objects.all(), **kwargs)


class EnumField(serializers.ChoiceField):
    """A choice field whose choices appear in the schema as one named enum, wherever the field is used."""

    def __init__(self, choices, *, enum_name=None, **kwargs):
        self.enum_name = enum_name or f"{choices.__name__}Enum"
        super().__init__(choices=getattr(choices, "choices", choices), **kwargs)


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField
    match_subclasses = True

    @staticmethod
    def _component(auto_schema, name, schema):
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        auto_schema.registry.register_on_missing(component)
        return component.ref

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        description = "\n".join(f"* `{value}` - {label}" for value, label in field.choices.items())
        variants = [self._component(auto_schema, field.enum_name, {
            "type": "string", "enum": list(field.choices), "description": description})]
        if field.allow_blank:
            variants.append(self._component(auto_schema, "BlankEnum", {"enum": [""]}))
        if field.allow_null:
            variants.append(self._component(auto_schema, "NullEnum", {"enum": [None]}))
        return variants[0] if len(variants) == 1 else {"oneOf": variants}


def user_name(user):
    return (user.get_full_name() or user.username) if user is not None else ""


# --- Shared pieces ---------------------------------------------------------------------------------------

class InstitutionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    key = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = EnumField(InstitutionKind, read_only=True)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user_name(user)


class ErrorSerializer(serializers.Serializer):
    """403, 404 and 401 answers: one message."""

    detail = serializers.CharField(read_only=True)


class ConflictSerializer(serializers.Serializer):
    """409: the step is not possible while the referral (or cost approval) has its current status."""

    detail = serializers.CharField(read_only=True)
    code = serializers.CharField(read_only=True)
    current_status = serializers.CharField(read_only=True)
    target_status = serializers.CharField(read_only=True)


# --- Auth and me -----------------------------------------------------------------------------------------

class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()
    email = serializers.CharField(read_only=True)
    institution = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user_name(user)

    @extend_schema_field(NullableRef(InstitutionRefSerializer))
    def get_institution(self, user):
        membership = self.context["membership"]
        return InstitutionRefSerializer(membership.institution).data if membership else None

    @extend_schema_field(serializers.ListField(child=EnumField(Role)))
    def get_roles(self, user):
        return self.context["roles"]


# --- Directory ---------------------------------------------------------------------------------------------

class ContactPersonSerializer(serializers.Serializer):
    name = serializers.SerializerMethodField()
    email = serializers.CharField(source="user.email", read_only=True)
    phone = serializers.CharField(source="user.phone", read_only=True)

    def get_name(self, membership) -> str:
        return user_name(membership.user)


class DirectoryInstitutionSerializer(serializers.ModelSerializer):
    municipalities = serializers.SerializerMethodField()
    email = serializers.CharField(read_only=True, help_text=_("Shared e-mail address; may be empty."))
    contact_persons = ContactPersonSerializer(source="contact_memberships", many=True, read_only=True)
    kind = EnumField(InstitutionKind, read_only=True)
    topics = serializers.ListField(child=EnumField(ProblemArea), read_only=True)

    class Meta:
        model = Institution
        fields = ["id", "key", "name", "kind", "address", "email", "phone", "municipalities",
                  "integral_case_management", "topics", "contact_persons"]
        read_only_fields = fields

    def get_municipalities(self, institution) -> list[int]:
        """BFS numbers of the municipalities served."""
        return sorted(m.bfs_number for m in institution.municipalities.all())


# --- Referrals: output ------------------------------------------------------------------------------------

class ClientSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    date_of_birth = serializers.DateField(read_only=True, allow_null=True)
    ahv_masked = serializers.CharField(read_only=True, help_text=_("The AHV number, masked: 756.****.****.97."))
    municipality = serializers.IntegerField(source="municipality.bfs_number", read_only=True, allow_null=True,
                                            help_text=_("BFS number of the municipality of residence."))
    address = serializers.CharField(read_only=True)
    phone = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True)
    preferred_language = EnumField(Language, read_only=True)


class SituationSerializer(serializers.Serializer):
    in_social_counselling = StrictBooleanField(required=False)
    economic_social_assistance = StrictBooleanField(required=False)
    registered_at_rav = StrictBooleanField(required=False)
    receives_unemployment_benefits = StrictBooleanField(required=False)
    in_iv_integration = StrictBooleanField(required=False)
    iv_procedure_running = StrictBooleanField(required=False)
    iv_health_damage_suspected = StrictBooleanField(required=False)
    last_iv_rejection_on = serializers.DateField(required=False, allow_null=True)
    last_rav_registration_on = serializers.DateField(required=False, allow_null=True)


class ConsentSerializer(serializers.Serializer):
    given_on = serializers.DateField(required=False, allow_null=True)
    form = EnumField(ConsentForm, required=False, allow_blank=True)


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    field = serializers.CharField(read_only=True)


class NextStepWhoSerializer(serializers.Serializer):
    """The party on turn: one person (type "user"), or the holders of a role at an institution."""

    type = serializers.ChoiceField(choices=["user", "institution", "none"], read_only=True)
    id = serializers.IntegerField(read_only=True, allow_null=True)
    name = serializers.CharField(read_only=True)
    role = serializers.CharField(read_only=True, help_text="contact_person or signatory for an institution")
    institution = NullableRef(InstitutionRefSerializer)


class NextStepSerializer(serializers.Serializer):
    text = serializers.CharField(read_only=True)
    my_turn = serializers.BooleanField(read_only=True)
    action = serializers.CharField(read_only=True, help_text="what must be done, e.g. decide, sign_cost_approval")
    who = NextStepWhoSerializer(read_only=True)
    due_on = serializers.DateField(read_only=True, allow_null=True, help_text="in Lucerne working days")


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    kind = EnumField(EventKind, read_only=True)
    actor = NullableRef(UserRefSerializer)
    from_status = serializers.CharField(read_only=True)
    to_status = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True)


def _blank_to_none(value):
    return value or None


class ReferralSerializer(serializers.Serializer):
    """A referral as lists show it."""

    id = serializers.IntegerField(read_only=True)
    reference = serializers.CharField(read_only=True)
    status = EnumField(Status, enum_name="ReferralStatusEnum", read_only=True)
    status_changed_at = serializers.DateTimeField(read_only=True)
    process = serializers.SerializerMethodField()
    target_group = serializers.SerializerMethodField()
    client = NullableRef(ClientSerializer, help_text=_(
        "null when you may not see the client's identity: the coordinator and administrators get the case "
        "pseudonymised unless they work for one of its two institutions (need to know)."))
    referring_institution = InstitutionRefSerializer(read_only=True)
    receiving_institution = NullableRef(InstitutionRefSerializer)
    referring_case_worker = UserRefSerializer(read_only=True)
    assigned_case_worker = NullableRef(UserRefSerializer)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    # Free texts and client details a pseudonymised referral leaves empty (need to know).
    PSEUDONYMISED = {"client": None}

    def identity_visible(self, referral):
        request = self.context.get("request")
        return request is not None and permissions.can_see_client_identity(request.user, referral)

    def to_representation(self, referral):
        data = super().to_representation(referral)
        if not self.identity_visible(referral):
            data.update({name: value for name, value in self.PSEUDONYMISED.items() if name in data})
        return data

    @extend_schema_field(EnumField(Process, allow_null=True))
    def get_process(self, referral):
        return _blank_to_none(referral.process)

    @extend_schema_field(EnumField(TARGET_GROUPS, enum_name="TargetGroupEnum", allow_null=True))
    def get_target_group(self, referral):
        """A..I; null for referrals between two social services or without a receiver."""
        return _blank_to_none(referral.target_group)


class ReferralDetailSerializer(ReferralSerializer):
    """The whole referral with the rules' current assessment and its event log."""

    situation = serializers.SerializerMethodField()
    mandate = serializers.CharField(read_only=True)
    problem_areas = serializers.ListField(child=EnumField(ProblemArea), read_only=True)
    planned_duration_months = serializers.IntegerField(read_only=True, allow_null=True)
    consent = serializers.SerializerMethodField()
    justification = serializers.CharField(read_only=True)
    rejection_reason = serializers.SerializerMethodField()
    rejection_text = serializers.CharField(read_only=True)
    closure_outcome = serializers.SerializerMethodField()
    closure_ground = serializers.SerializerMethodField()
    closure_text = serializers.CharField(read_only=True)
    consent_withdrawn_on = serializers.DateField(
        read_only=True, allow_null=True,
        help_text=_("Set once the client withdrew consent; the receiving institution then sees codes and dates "
                    "only."))
    anonymised_at = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text=_("Set once the retention period ran out and the client data was removed."))
    warnings = serializers.SerializerMethodField()
    hard_stops = serializers.SerializerMethodField()
    missing = serializers.SerializerMethodField()
    next_step = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    PSEUDONYMISED = {"client": None, "situation": None, "mandate": "", "problem_areas": [], "justification": "",
                     "rejection_text": "", "closure_text": "", "warnings": [], "hard_stops": [], "missing": []}

    def to_representation(self, referral):
        data = super().to_representation(referral)
        if not self.identity_visible(referral):
            for event in data["events"]:
                event["text"] = ""
        return data

    def _assessment(self, referral):
        return self.context["assessment"]

    @extend_schema_field(NullableRef(SituationSerializer))
    def get_situation(self, referral):
        """null when the referral is pseudonymised for you (need to know)."""
        return SituationSerializer(Situation.from_referral(referral)).data

    @extend_schema_field(ConsentSerializer)
    def get_consent(self, referral):
        return {"given_on": referral.consent_given_on.isoformat() if referral.consent_given_on else None,
                "form": referral.consent_form}

    @extend_schema_field(EnumField(RejectionReason, allow_null=True))
    def get_rejection_reason(self, referral):
        return _blank_to_none(referral.rejection_reason)

    @extend_schema_field(EnumField(ClosureOutcome, allow_null=True))
    def get_closure_outcome(self, referral):
        return _blank_to_none(referral.closure_outcome)

    @extend_schema_field(EnumField(ClosureGround, allow_null=True))
    def get_closure_ground(self, referral):
        return _blank_to_none(referral.closure_ground)

    @extend_schema_field(FindingSerializer(many=True))
    def get_warnings(self, referral):
        """Warnings of the admission rules: a submission needs a justification while there are any."""
        return FindingSerializer(self._assessment(referral).warnings, many=True).data

    @extend_schema_field(FindingSerializer(many=True))
    def get_hard_stops(self, referral):
        """Reasons this referral cannot be sent at all (OPTIMA is the wrong instrument)."""
        return FindingSerializer(self._assessment(referral).hard_stops, many=True).data

    @extend_schema_field(FindingSerializer(many=True))
    def get_missing(self, referral):
        """What is still missing before the referral can be sent."""
        return FindingSerializer(self._assessment(referral).missing, many=True).data

    @extend_schema_field(NextStepSerializer)
    def get_next_step(self, referral):
        step = self.context["next_step"]
        task = step.task
        who = {"type": "none", "id": None, "name": "", "role": "", "institution": None}
        if task is not None and task.user is not None:
            who = {"type": "user", "id": task.user.pk, "name": user_name(task.user), "role": "",
                   "institution": step.who_institution}
        elif task is not None and task.institution is not None:
            who = {"type": "institution", "id": task.institution.pk, "name": task.institution.name,
                   "role": task.role, "institution": task.institution}
        return {"text": str(step.text), "my_turn": step.my_turn, "action": step.action,
                "who": NextStepWhoSerializer(who).data,
                "due_on": step.due_on.isoformat() if step.due_on else None}

    @extend_schema_field(EventSerializer(many=True))
    def get_events(self, referral):
        return EventSerializer(self.context["events"], many=True).data


# --- Referrals: input ---------------------------------------------------------------------------------------

class ClientInputSerializer(serializers.Serializer):
    first_name = StrictCharField(min_length=1, max_length=100)
    last_name = StrictCharField(min_length=1, max_length=100)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    ahv_number = StrictCharField(
        max_length=20, required=False, allow_blank=True, validators=[normalize_ahv],
        help_text=_("13 digits starting with 756, e.g. 756.1234.5678.97 (check digit verified)."))
    municipality = MunicipalityField(
        required=False, allow_null=True,
        help_text=_("BFS number of the municipality of residence."))
    address = StrictCharField(max_length=200, required=False, allow_blank=True)
    phone = StrictCharField(max_length=40, required=False, allow_blank=True, validators=[validate_phone])
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True,
                                   validators=[validate_email_address])
    preferred_language = EnumField(Language, required=False)


class ClientPatchSerializer(ClientInputSerializer):
    first_name = StrictCharField(min_length=1, max_length=100, required=False)
    last_name = StrictCharField(min_length=1, max_length=100, required=False)


class ReferralInputSerializer(serializers.Serializer):
    """The application (POST). Incomplete is fine: it is a draft, and ``missing`` says what a submission needs."""

    receiving_institution = InstitutionField(
        queryset=Institution.objects.filter(active=True),
        help_text=_("The institution that should take over (id from /api/v1/institutions/)."))
    client = ClientInputSerializer()
    situation = SituationSerializer(required=False)
    mandate = StrictCharField(required=False, allow_blank=True,
                                    help_text=_("What should the receiving institution achieve?"))
    problem_areas = serializers.ListField(child=EnumField(ProblemArea),
                                          required=False, help_text=_("Needed for OPTIMA-SH: at least one."))
    planned_duration_months = StrictIntegerField(min_value=1, max_value=24, required=False, allow_null=True)
    consent = ConsentSerializer(required=False)
    justification = StrictCharField(required=False, allow_blank=True,
                                          help_text=_("Why the referral should go ahead despite the warnings."))

    def to_service_arguments(self):
        """(client_data, data) for the services, with only the fields the request contained."""
        values = self.validated_data
        client_data = dict(values.get("client", {}))
        data = dict(values.get("situation", {}))
        for name in ("receiving_institution", "mandate", "problem_areas", "planned_duration_months", "justification"):
            if name in values:
                data[name] = values[name]
        consent = values.get("consent", {})
        if "given_on" in consent:
            data["consent_given_on"] = consent["given_on"]
        if "form" in consent:
            data["consent_form"] = consent["form"]
        return client_data, data


class ReferralPatchSerializer(ReferralInputSerializer):
    """Edit a draft (PATCH): send only what changes."""

    receiving_institution = InstitutionField(
        queryset=Institution.objects.filter(active=True), required=False)
    client = ClientPatchSerializer(required=False)


# Where a service's field error belongs in the request body.
SERVICE_FIELD_PATHS = {
    **{name: ("client", name) for name in ("first_name", "last_name", "date_of_birth", "ahv_number",
                                           "municipality", "address", "phone", "email", "preferred_language")},
    **{name: ("situation", name) for name in Situation.FIELDS},
    "consent_given_on": ("consent", "given_on"),
    "consent_form": ("consent", "form"),
}


class PersonalDataSerializer(ClientPatchSerializer):
    """'Personalien ändern' on a sent referral: only the fields given change; each change is an event."""

    ahv_number = StrictCharField(
        max_length=20, required=False, validators=[normalize_ahv],
        help_text=_("13 digits starting with 756, e.g. 756.1234.5678.97 (check digit verified)."))
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)


class ConsentWithdrawalSerializer(serializers.Serializer):
    withdrawn_on = serializers.DateField(help_text=_("The day the client withdrew consent."))
    channel = EnumField(ConsentWithdrawalChannel, help_text=_("How the institution learned of it."))
    note = StrictCharField(required=False, allow_blank=True, default="", max_length=2000)


class SubmitSerializer(serializers.Serializer):
    justification = StrictCharField(
        required=False, allow_blank=True,
        help_text=_("Needed when the referral has warnings: why should it go ahead anyway? "
                    "Leave out to keep the justification saved with the draft."))


class WithdrawSerializer(serializers.Serializer):
    reason = StrictCharField(required=False, allow_blank=True, default="",
                                   help_text=_("Required once the referral has been sent."))


class AcceptSerializer(serializers.Serializer):
    case_worker = StrictIntegerField(
        min_value=1, max_value=MAX_ID,
        help_text=_("Id of the case worker of the receiving institution who will lead the case."))


class RejectSerializer(serializers.Serializer):
    reason = EnumField(RejectionReason)
    reason_text = StrictCharField(required=False, allow_blank=True, default="",
                                        help_text=_("Required for the reason “other”."))


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    author = UserRefSerializer(read_only=True)
    text = StrictCharField(min_length=1)
    created_at = serializers.DateTimeField(read_only=True)


class HandoverSerializer(serializers.Serializer):
    held_on = serializers.DateField()
    all_agreed = StrictBooleanField(
        help_text=_("Do the client and both case workers agree to the note? false: OPTIMA does not start."))
    case_work_starts_on = serializers.DateField(required=False, allow_null=True, default=None)
    strategy = StrictCharField(required=False, allow_blank=True, default="")
    first_status_meeting_on = serializers.DateField(required=False, allow_null=True, default=None)
    client_able_and_willing = StrictBooleanField(
        required=False, allow_null=True, default=None,
        help_text=_("For OPTIMA-ALV: the client states that they can and want to work."))


class StatusMeetingSerializer(serializers.Serializer):
    held_on = serializers.DateField()
    progress = StrictCharField(allow_blank=True)
    next_steps = StrictCharField(required=False, allow_blank=True, default="")
    decision = EnumField(MeetingDecision)
    next_meeting_on = serializers.DateField(required=False, allow_null=True, default=None,
                                            help_text=_("Required when the case continues."))
    outcome = EnumField(ClosureOutcome, required=False, allow_blank=True, default="",
                                      help_text=_("Required when the case is closed."))
    ground = EnumField(ClosureGround, required=False, allow_blank=True, default="",
                                     help_text=_("Required when the case is closed."))
    outcome_text = StrictCharField(required=False, allow_blank=True, default="",
                                         help_text=_("Required for “other”."))


class CostApprovalSerializer(serializers.Serializer):
    """A cost approval; measure, provider and the texts are empty where the referral is pseudonymised for you."""

    FREE_TEXTS = ("measure", "provider", "justification", "refusal_reason")

    id = serializers.IntegerField(read_only=True)
    referral = serializers.IntegerField(source="referral_id", read_only=True)
    status = EnumField(CostApprovalStatus, read_only=True)
    measure = StrictCharField(min_length=1, max_length=200)
    provider = StrictCharField(min_length=1, max_length=200)
    amount_chf = StrictDecimalField(max_digits=10, decimal_places=2)
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    justification = StrictCharField(min_length=1)
    requesting_institution = InstitutionRefSerializer(read_only=True)
    financing_institution = InstitutionRefSerializer(read_only=True)
    requested_by = UserRefSerializer(read_only=True)
    requested_at = serializers.DateTimeField(read_only=True)
    decided_by = NullableRef(UserRefSerializer)
    decided_at = serializers.DateTimeField(read_only=True, allow_null=True)
    refusal_reason = serializers.CharField(read_only=True)
    invoice_received_on = serializers.DateField(read_only=True, allow_null=True)
    invoice_forwarded_on = serializers.DateField(read_only=True, allow_null=True)
    # Issue 11: who pays (the referrer unless the other party is named with a reason) and the measure covered.
    financing_institution_id = InstitutionField(
        queryset=Institution.objects.all(), source="financing_institution", required=False, write_only=True,
        help_text=_("Another party institution that pays (where the client is entitled to benefits); "
                    "default: the referrer."))
    financing_reason = StrictCharField(required=False, allow_blank=True, default="",
                                       help_text=_("Why not the referrer pays; needed with financing_institution_id."))
    measure_id = MeasureField(source="covered_measure", required=False, allow_null=True, default=None,
                              help_text=_("The planned measure this approval is for; without one, a measure is "
                                          "created from the request."))


class AhvSerializer(serializers.Serializer):
    ahv_number = serializers.CharField(read_only=True, help_text=_("The full AHV number, e.g. 756.1234.5678.97."))


class RefuseSerializer(serializers.Serializer):
    reason = StrictCharField(allow_blank=True, help_text=_("Why the cost approval is refused."))


class DocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    file = serializers.FileField(write_only=True)
    kind = EnumField(DocumentKind, default=DocumentKind.OTHER)
    original_name = serializers.CharField(read_only=True)
    size = serializers.IntegerField(read_only=True)
    content_type = serializers.CharField(read_only=True)
    uploaded_at = serializers.DateTimeField(read_only=True)
    uploaded_by = UserRefSerializer(read_only=True)

