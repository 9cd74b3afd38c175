"""OPTIMA referrals: the client, the referral and everything that happens to it.

Status changes happen only in ``referrals.services``; every change writes a ``ReferralEvent``
(append-only). The case timeline and the KPIs are computed from those events.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.models import Institution, Municipality, ProblemArea  # noqa: F401  (ProblemArea re-exported)

from .ahv import decrypt_ahv, mask_ahv


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Waiting for decision")
    ACCEPTED = "accepted", _("Accepted – handover meeting pending")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    NOT_STARTED = "not_started", _("Not started")


OPEN_STATUSES = [Status.DRAFT, Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE]
FINAL_STATUSES = [Status.CLOSED, Status.REJECTED, Status.WITHDRAWN, Status.NOT_STARTED]


class Process(models.TextChoices):
    OPTIMA_ALV = "optima_alv", "OPTIMA-ALV"
    OPTIMA_IV = "optima_iv", "OPTIMA-IV"
    OPTIMA_SH = "optima_sh", "OPTIMA-SH"


class RejectionReason(models.TextChoices):
    IV_REJECTION_RECENT = "iv_rejection_recent", _("IV rejection less than a year ago")
    NO_INTACT_WORK_OFFER = "no_intact_work_offer", _("No intact work offer")
    NO_CAPACITY = "no_capacity", _("No capacity")
    GOAL_NOT_FEASIBLE = "goal_not_feasible", _("Goal not feasible")
    OTHER = "other", _("Other")


class ClosureOutcome(models.TextChoices):
    SUCCESSFUL = "successful", _("Mandate successfully fulfilled")
    PARTIAL = "partial", _("Mandate partly fulfilled")
    NOT_ACHIEVED = "not_achieved", _("Mandate not fulfilled")
    OTHER = "other", _("Other")


class ClosureGround(models.TextChoices):
    GOAL_REACHED = "goal_reached", _("Goal reached (ended by the receiver)")
    GOAL_UNREACHABLE = "goal_unreachable", _("Goal cannot be reached (ended by the receiver)")
    MANDATE_REVOKED = "mandate_revoked", _("Referrer revokes the mandate")
    COST_APPROVAL_REFUSED = "cost_approval_refused", _("Referrer refuses cost approvals")
    PARALLEL_CASE_MANAGEMENT = "parallel_case_management", _("Referrer keeps working the case in parallel")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Client withdraws consent")
    OTHER = "other", _("Other")


class ConsentForm(models.TextChoices):
    WRITTEN = "written", _("in writing")
    VERBAL = "verbal", _("verbally")


class Language(models.TextChoices):
    DE = "de", _("German")
    FR = "fr", _("French")
    IT = "it", _("Italian")
    EN = "en", _("English")
    OTHER = "other", _("Other language")


class Client(models.Model):
    """The person whose case management is handed over (OPTIMA-Person)."""

    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    # Kept when an ended case is anonymised (age bands); the full birth date goes.
    birth_year = models.PositiveSmallIntegerField(_("year of birth"), null=True, blank=True, editable=False)
    # The AHV number is sensitive: stored encrypted, found again through a keyed hash (see referrals.ahv).
    ahv_ciphertext = models.TextField(blank=True, editable=False)
    ahv_digest = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("municipality of residence")
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=Language.choices, default=Language.DE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")

    def __str__(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def ahv_number(self):
        return decrypt_ahv(self.ahv_ciphertext) if self.ahv_ciphertext else ""

    @property
    def ahv_masked(self):
        return mask_ahv(self.ahv_number) if self.ahv_ciphertext else ""


class ConsentWithdrawalChannel(models.TextChoices):
    """How the institution learned that the client withdrew consent."""

    CLIENT_IN_WRITING = "client_in_writing", _("The client told us in writing")
    CLIENT_VERBALLY = "client_verbally", _("The client told us in person or by phone")
    OTHER_INSTITUTION = "other_institution", _("The other institution told us")
    OTHER = "other", _("Other way")


class Referral(models.Model):
    reference = models.CharField(_("reference"), max_length=20, unique=True, blank=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="referrals", verbose_name=_("client"))
    referring_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="referrals_sent", verbose_name=_("referring institution")
    )
    referring_case_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_filed",
        verbose_name=_("referring case worker"),
    )
    receiving_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="referrals_received", null=True, blank=True,
        verbose_name=_("receiving institution"),
    )
    assigned_case_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrals_assigned", null=True, blank=True,
        verbose_name=_("assigned case worker"),
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    # The client's situation at filing (concept 6.2.3/6.2.4).
    in_social_counselling = models.BooleanField(_("in social counselling (personal social assistance)"), default=False)
    economic_social_assistance = models.BooleanField(_("receives economic social assistance"), default=False)
    registered_at_rav = models.BooleanField(_("registered at the RAV"), default=False)
    receives_unemployment_benefits = models.BooleanField(_("receives unemployment benefits (ALE)"), default=False)
    in_iv_integration = models.BooleanField(_("in IV integration counselling or IV measures"), default=False)
    iv_procedure_running = models.BooleanField(_("IV procedure running"), default=False)
    iv_health_damage_suspected = models.BooleanField(_("IV-relevant health damage suspected"), default=False)
    last_iv_rejection_on = models.DateField(_("date of the last IV rejection"), null=True, blank=True)
    last_rav_registration_on = models.DateField(_("date of the last RAV registration"), null=True, blank=True)

    mandate = models.TextField(_("mandate"), blank=True)
    problem_areas = models.JSONField(_("problem areas"), default=list, blank=True)
    planned_duration_months = models.PositiveSmallIntegerField(_("planned duration (months)"), null=True, blank=True)
    consent_given_on = models.DateField(_("consent given on"), null=True, blank=True)
    consent_form = models.CharField(_("consent given"), max_length=10, choices=ConsentForm.choices, blank=True)
    justification = models.TextField(_("justification for the warnings"), blank=True)

    # Derived by the services from the table in DOMAIN.md; never asked from the user.
    process = models.CharField(_("process"), max_length=12, choices=Process.choices, blank=True)
    target_group = models.CharField(_("target group"), max_length=1, blank=True)

    # The latest decision, for display; the KPIs read the events.
    rejection_reason = models.CharField(
        _("rejection reason"), max_length=30, choices=RejectionReason.choices, blank=True)
    rejection_text = models.TextField(_("rejection explanation"), blank=True)
    closure_outcome = models.CharField(_("outcome"), max_length=20, choices=ClosureOutcome.choices, blank=True)
    closure_ground = models.CharField(_("closure ground"), max_length=30, choices=ClosureGround.choices, blank=True)
    closure_text = models.TextField(_("closure explanation"), blank=True)

    # Consent withdrawal (issue 10): from then on the receiving institution sees only the pseudonymised case.
    consent_withdrawn_on = models.DateField(_("consent withdrawn on"), null=True, blank=True)
    consent_withdrawal_channel = models.CharField(
        _("how we learned of it"), max_length=20, choices=ConsentWithdrawalChannel.choices, blank=True)
    consent_withdrawal_note = models.TextField(_("note on the withdrawal"), blank=True)
    # The case's active span, written by the services that start and end it (issue 14: billing and model C read
    # it instead of grouping every meeting): from the agreed handover meeting to the closing meeting or the
    # withdrawal of consent.
    active_from = models.DateField(_("case active from"), null=True, blank=True, editable=False)
    active_until = models.DateField(_("case active until"), null=True, blank=True, editable=False)
    # Set when the retention period ran out and the client's data was removed (referrals.services).
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-status_changed_at"]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        # Issue 14: indexes matching the lists' filters and orderings (coordinator list, inboxes, start page).
        indexes = [
            models.Index(fields=["-status_changed_at"], name="referral_changed"),
            models.Index(fields=["status", "status_changed_at"], name="referral_status_changed"),
            models.Index(fields=["referring_institution", "status", "status_changed_at"],
                         name="referral_sender_status"),
            models.Index(fields=["receiving_institution", "status", "status_changed_at"],
                         name="referral_receiver_status"),
            # A party's list, newest change first: one index scan per side, merged (selectors.keyset_page).
            models.Index(fields=["referring_institution", "-status_changed_at", "-id"], name="referral_sender_changed"),
            models.Index(fields=["receiving_institution", "-status_changed_at", "-id"],
                         name="referral_receiver_changed"),
            # The coordinator's "what waits longest": open referrals, longest in their status first.
            models.Index(fields=["status_changed_at"], name="referral_open_changed",
                         condition=models.Q(status__in=["submitted", "accepted", "active"])),
        ]

    def __str__(self):
        return self.reference or _("Draft")

    @property
    def situation(self):
        from .rules import Situation

        return Situation.from_referral(self)

    def problem_area_labels(self):
        return [ProblemArea(code).label for code in self.problem_areas if code in ProblemArea.values]

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES


class EventKind(models.TextChoices):
    STATUS = "status", _("Status change")
    EDITED = "edited", _("Edited")
    COMMENT = "comment", _("Question or comment")
    MEETING_SCHEDULED = "meeting_scheduled", _("Meeting scheduled")
    MEETING_RECORDED = "meeting_recorded", _("Meeting recorded")
    COST_APPROVAL = "cost_approval", _("Cost approval")
    MEASURE = "measure", _("Measure")
    INVOICE = "invoice", _("Invoice")
    DOCUMENT = "document", _("Document")
    CLIENT_CHANGED = "client_changed", _("Personal data changed")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    ANONYMISED = "anonymised", _("Anonymised")
    REMINDER = "reminder", _("Reminder")


class ReferralEvent(models.Model):
    """Append-only log of what happened to a referral: who, when, from, to, why."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=40, blank=True)  # a rejection reason, closure outcome... as a code
    text = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    cost_approval = models.ForeignKey(
        "CostApproval", on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    measure = models.ForeignKey("Measure", on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    invoice = models.ForeignKey("Invoice", on_delete=models.CASCADE, null=True, blank=True, related_name="events")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["kind", "to_status", "created_at"]),
                   # Issue 14: "when did this referral last reach status X" (waiting times, KPI rollup).
                   models.Index(fields=["referral", "kind", "to_status", "created_at"], name="event_referral_status"),
                   # Issue 14: the KPI page's latest rejection and closure texts.
                   models.Index(fields=["-created_at"], name="event_decision_texts",
                                condition=models.Q(kind="status", to_status__in=["rejected", "closed"])
                                & ~models.Q(text=""))]

    def __str__(self):
        return f"{self.referral_id} {self.kind} {self.from_status}->{self.to_status}"


class Comment(models.Model):
    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.referral_id}: {self.text[:40]}"


class MeetingKind(models.TextChoices):
    HANDOVER = "handover", _("Handover meeting")
    STATUS = "status", _("Status meeting")


class MeetingDecision(models.TextChoices):
    CONTINUE = "continue", _("Continue")
    CLOSE = "close", _("Close the case")


class Meeting(models.Model):
    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="meetings")
    kind = models.CharField(_("kind"), max_length=10, choices=MeetingKind.choices)
    scheduled_at = models.DateTimeField(_("date and time"), null=True, blank=True)
    location = models.CharField(_("place"), max_length=200, blank=True)
    # Set when a note planned this meeting by its date only; cleared once someone schedules it properly.
    planned_on = models.DateField(_("planned on"), null=True, blank=True, editable=False)
    scheduled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    held_on = models.DateField(_("held on"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    recorded_at = models.DateTimeField(null=True, blank=True)
    # Handover note
    case_work_starts_on = models.DateField(_("case work starts on"), null=True, blank=True)
    strategy = models.TextField(_("strategy and planned measures"), blank=True)
    first_status_meeting_on = models.DateField(_("first status meeting on"), null=True, blank=True)
    client_able_and_willing = models.BooleanField(_("client can and wants to work"), null=True, blank=True)
    all_agreed = models.BooleanField(_("all three agree to the note"), null=True, blank=True)
    # Status meeting note
    progress = models.TextField(_("progress"), blank=True)
    next_steps = models.TextField(_("next steps"), blank=True)
    decision = models.CharField(_("decision"), max_length=10, choices=MeetingDecision.choices, blank=True)
    next_meeting_on = models.DateField(_("next status meeting on"), null=True, blank=True)

    class Meta:
        ordering = ["scheduled_at", "held_on", "id"]
        # Issue 14: the start page's upcoming meetings are the few not yet recorded.
        indexes = [models.Index(fields=["scheduled_at"], condition=models.Q(recorded_at__isnull=True),
                                name="meeting_open_scheduled")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.referral_id}"

    @property
    def is_recorded(self):
        return self.recorded_at is not None


class CostApprovalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested – waiting for signature")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")


class CostApproval(models.Model):
    """Kostengutsprache: the financing institution's written promise to pay for a measure."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="cost_approvals")
    requesting_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    financing_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    # Why another institution than the referrer pays (the client is entitled to its benefits); blank = referrer.
    financing_reason = models.TextField(_("why this institution pays"), blank=True)
    # The measure this approval covers (a cost approval requested without one creates it).
    covered_measure = models.ForeignKey("Measure", on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="cost_approvals", verbose_name=_("measure"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    measure = models.CharField(_("measure"), max_length=200)
    provider = models.CharField(_("provider"), max_length=200)
    amount_chf = models.DecimalField(_("amount (CHF)"), max_digits=10, decimal_places=2)
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    justification = models.TextField(_("justification"))
    status = models.CharField(max_length=10, choices=CostApprovalStatus.choices, default=CostApprovalStatus.REQUESTED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    refusal_reason = models.TextField(_("reason for the refusal"), blank=True)
    invoice_received_on = models.DateField(_("invoice received on"), null=True, blank=True)
    invoice_forwarded_on = models.DateField(_("invoice forwarded on"), null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        indexes = [models.Index(fields=["financing_institution", "status", "requested_at"],
                                name="cost_approval_to_sign")]  # issue 14: the signatory's list

    def __str__(self):
        return f"{self.measure} ({self.amount_chf})"

    @property
    def awaits_signature(self):
        return self.status in {CostApprovalStatus.REQUESTED}

    @property
    def is_approved(self):
        return self.status in {CostApprovalStatus.APPROVED}


class MeasureStatus(models.TextChoices):
    PLANNED = "planned", _("Planned – not started")
    STARTED = "started", _("Started")


class Measure(models.Model):
    """Massnahme: what is done for the client, by which provider, for how much, when.

    It can start only with a signed cost approval that covers its amount and period (no pre-financing);
    whether one does is computed from the approvals, so changing amount or period after signing asks for a new one.
    """

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="measures")
    title = models.CharField(_("measure"), max_length=200)
    provider = models.CharField(_("provider"), max_length=200)
    amount_chf = models.DecimalField(_("amount (CHF)"), max_digits=10, decimal_places=2)
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    status = models.CharField(_("status"), max_length=10, choices=MeasureStatus.choices,
                              default=MeasureStatus.PLANNED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    started_on = models.DateField(_("started on"), null=True, blank=True)

    class Meta:
        ordering = ["starts_on", "id"]
        verbose_name = _("measure")
        verbose_name_plural = _("measures")

    def __str__(self):
        return self.title

    @property
    def is_planned(self):
        return self.status in {MeasureStatus.PLANNED}

    def covering_approval(self, approvals=None):
        """The signed cost approval covering this measure's amount and period, or None."""
        approvals = self.cost_approvals.all() if approvals is None else approvals
        for approval in approvals:
            if (approval.is_approved and approval.amount_chf >= self.amount_chf
                    and approval.starts_on <= self.starts_on and approval.ends_on >= self.ends_on):
                return approval
        return None


class InvoiceStatus(models.TextChoices):
    RECORDED = "recorded", _("Recorded – to forward")
    FORWARDED = "forwarded", _("Forwarded – waiting for confirmation of receipt")
    CONFIRMED = "confirmed", _("Receipt confirmed")


def invoice_upload_to(instance, filename):
    return f"invoices/{instance.referral_id}/{timezone.now():%Y%m%d%H%M%S%f}"


class Invoice(models.Model):
    """A provider's invoice for a measure, recorded by the leading institution and forwarded to the financing one."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="invoices")
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="invoices",
                                verbose_name=_("measure"))
    financing_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    number = models.CharField(_("invoice number"), max_length=60)
    invoice_date = models.DateField(_("invoice date"))
    amount_chf = models.DecimalField(_("amount (CHF)"), max_digits=10, decimal_places=2)
    file = models.FileField(_("file"), upload_to=invoice_upload_to, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    over_budget_reason = models.TextField(_("why more than approved"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=InvoiceStatus.choices,
                              default=InvoiceStatus.RECORDED)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    forwarded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    forwarded_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invoice_date", "id"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")

    def __str__(self):
        return f"{self.number} ({self.amount_chf})"

    @property
    def awaits_forwarding(self):
        return self.status in {InvoiceStatus.RECORDED}

    @property
    def awaits_confirmation(self):
        return self.status in {InvoiceStatus.FORWARDED}


class DocumentKind(models.TextChoices):
    APPLICATION = "application", _("Application attachment")
    EMPLOYMENT_CONTRACT = "employment_contract", _("Employment contract")
    MEETING_NOTE = "meeting_note", _("Meeting note")
    OTHER = "other", _("Other")


def document_upload_to(instance, filename):
    # The stored name never carries the client's name; the original name is kept in a column.
    return f"documents/{instance.referral_id}/{timezone.now():%Y%m%d%H%M%S%f}"


class Document(models.Model):
    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="documents")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(_("kind"), max_length=30, choices=DocumentKind.choices, default=DocumentKind.OTHER)
    file = models.FileField(_("file"), upload_to=document_upload_to)
    original_name = models.CharField(max_length=255)
    size = models.PositiveIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return self.original_name


class AhvKeyCanary(models.Model):
    """A known text encrypted with ``OPTIMA_AHV_KEY``: the app refuses to start when it no longer decrypts.

    Written by the migration that created it (and by ``manage.py backup`` when missing); read by the system
    check in ``referrals.checks``. Never changes afterwards: a new key needs a re-encryption, not a new canary.
    """

    ciphertext = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "AHV key canary"

    def __str__(self):
        return f"AHV key canary {self.created_at:%Y-%m-%d}"
