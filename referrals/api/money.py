"""REST API for measures and provider invoices (issue 11): /api/v1/measures/ and /api/v1/invoices/.

Same permissions as the case page: only measures and invoices of referrals the user may see (404 otherwise);
the services decide who may act (403), which step the status allows (409) and what is bad input (400).
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from referrals import permissions, selectors, services
from referrals.models import Invoice, InvoiceStatus, Measure, MeasureStatus

from . import serializers as s
from .views import ACTION, Pagination, _parse_id, responses


class MeasureSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    referral = serializers.IntegerField(source="referral_id", help_text="The referral (case) the measure is for.")
    # Required by the service (400 when empty); empty in answers to those who may not know the client.
    title = s.StrictCharField(max_length=200, help_text="What is done, e.g. job coaching. Empty for non-parties.")
    provider = s.StrictCharField(max_length=200, help_text="Empty for non-parties (need to know).")
    amount_chf = s.StrictDecimalField(max_digits=10, decimal_places=2, help_text='In CHF as a string, e.g. "1800.00".')
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    status = s.EnumField(MeasureStatus, read_only=True)
    started_on = serializers.DateField(read_only=True, allow_null=True)
    covered = serializers.SerializerMethodField(
        help_text="True when a signed cost approval covers the amount and period, so the measure may start.")

    def get_covered(self, measure) -> bool:
        return measure.covering_approval() is not None

    def to_representation(self, measure):
        data = super().to_representation(measure)
        request = self.context.get("request")
        # What and who provides it may name the client's situation: for the two institutions only (need to know).
        if request is not None and not permissions.can_see_client_identity(request.user, measure.referral):
            data["title"] = data["provider"] = ""
        return data


class InvoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    referral = serializers.IntegerField(source="referral_id", read_only=True)
    measure = serializers.IntegerField(source="measure_id", help_text="The measure the invoice is for.")
    number = serializers.CharField(min_length=1, max_length=60)
    invoice_date = serializers.DateField()
    amount_chf = serializers.DecimalField(max_digits=10, decimal_places=2)
    over_budget_reason = serializers.CharField(required=False, allow_blank=True, default="",
                                               help_text="Required when the measure's invoices exceed the approval.")
    file = serializers.FileField(write_only=True, required=False, help_text="The invoice as PDF or image.")
    has_file = serializers.SerializerMethodField()
    status = s.EnumField(InvoiceStatus, read_only=True)
    financing_institution = s.InstitutionRefSerializer(read_only=True)
    forwarded_at = serializers.DateTimeField(read_only=True, allow_null=True)
    confirmed_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def get_has_file(self, invoice) -> bool:
        return bool(invoice.file)


class _CaseObjectViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    pagination_class = Pagination
    filter_backends = []
    lookup_value_regex = "[^/]+"
    model = None

    def get_queryset(self):
        queryset = (self.model.objects.select_related("referral")
                    .filter(referral__in=selectors.visible_referrals(self.request.user)))
        referral = self.request.query_params.get("referral")
        if referral is not None:
            queryset = queryset.filter(referral_id=_parse_id(referral))
        return queryset.order_by("id")

    def get_object(self):
        obj = self.get_queryset().filter(pk=_parse_id(self.kwargs["pk"])).first()
        if obj is None:
            raise NotFound()
        return obj

    def _referral(self, pk):
        referral = selectors.referral_for_user(self.request.user, pk) if isinstance(pk, int) else None
        if referral is None:
            raise serializers.ValidationError({"referral": ["Unknown referral."]})
        return referral


@extend_schema(tags=["measures"])
@extend_schema_view(
    list=extend_schema(summary="Measures of the referrals you may see (?referral=<id> for one case)",
                       responses=responses({200: MeasureSerializer(many=True)}, 400, 401, 404)),
    retrieve=extend_schema(summary="One measure", responses=responses({200: MeasureSerializer}, 401, 404)),
)
class MeasureViewSet(_CaseObjectViewSet):
    """Measures (Massnahmen): planned by the leading institution; started only with a covering signed approval."""

    serializer_class = MeasureSerializer
    parser_classes = [JSONParser]
    model = Measure

    def get_queryset(self):
        return super().get_queryset().prefetch_related("cost_approvals")

    @extend_schema(summary="Plan a measure", request=MeasureSerializer,
                   responses=responses({201: MeasureSerializer}, *ACTION))
    def create(self, request):
        serializer = MeasureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        referral = self._referral(values.pop("referral_id"))
        measure = services.measure_create(referral=referral, actor=request.user, **values)
        return Response(MeasureSerializer(measure).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Mark the measure as started (needs a signed cost approval covering it)", request=None,
                   responses=responses({200: MeasureSerializer}, 400, 401, 403, 404, 409))
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        measure = services.measure_start(measure=self.get_object(), actor=request.user)
        return Response(MeasureSerializer(measure).data)


@extend_schema(tags=["invoices"])
@extend_schema_view(
    list=extend_schema(summary="Provider invoices of the referrals you may see (?referral=<id> for one case)",
                       responses=responses({200: InvoiceSerializer(many=True)}, 400, 401, 404)),
    retrieve=extend_schema(summary="One invoice", responses=responses({200: InvoiceSerializer}, 401, 404)),
)
class InvoiceViewSet(_CaseObjectViewSet):
    """Provider invoices: recorded and forwarded by the leading institution, receipt confirmed by a signatory of
    the financing institution."""

    serializer_class = InvoiceSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    model = Invoice

    def get_queryset(self):
        return super().get_queryset().select_related("financing_institution")

    @extend_schema(summary="Record a provider invoice for a measure", request=InvoiceSerializer,
                   responses=responses({201: InvoiceSerializer}, *ACTION))
    def create(self, request):
        serializer = InvoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        measure = Measure.objects.filter(
            pk=values["measure_id"], referral__in=selectors.visible_referrals(request.user)).first()
        if measure is None:
            raise serializers.ValidationError({"measure": ["Unknown measure."]})
        invoice = services.invoice_record(
            measure=measure, actor=request.user, number=values["number"], invoice_date=values["invoice_date"],
            amount_chf=values["amount_chf"], uploaded_file=values.get("file"),
            over_budget_reason=values.get("over_budget_reason", ""))
        return Response(InvoiceSerializer(invoice).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Forward the invoice to the financing institution", request=None,
                   responses=responses({200: InvoiceSerializer}, 401, 403, 404, 409))
    @action(detail=True, methods=["post"])
    def forward(self, request, pk=None):
        return Response(InvoiceSerializer(services.invoice_forward(invoice=self.get_object(),
                                                                   actor=request.user)).data)

    @extend_schema(summary="Confirm receipt of the forwarded invoice (signatory of the financing institution)",
                   request=None, responses=responses({200: InvoiceSerializer}, 401, 403, 404, 409))
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        return Response(InvoiceSerializer(services.invoice_confirm_receipt(invoice=self.get_object(),
                                                                           actor=request.user)).data)
