"""REST API for case-fee statements: /api/v1/fee-statements/ (list, detail, the PDF). Same visibility as the
pages: statements between the user's institution and another; coordinator and administrators see all."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from billing import exports, selectors
from referrals.api.serializers import InstitutionRefSerializer
from referrals.api.views import Pagination, responses


class LineSerializer(serializers.Serializer):
    reference = serializers.CharField(read_only=True)
    months = serializers.IntegerField(read_only=True)
    rate_chf = serializers.DecimalField(max_digits=8, decimal_places=2, read_only=True)
    amount_chf = serializers.DecimalField(max_digits=10, decimal_places=2, read_only=True)


class FeeStatementSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    number = serializers.CharField(read_only=True)
    month = serializers.DateField(read_only=True, help_text="The first day of the billed month.")
    billing_institution = InstitutionRefSerializer(read_only=True)
    billed_institution = InstitutionRefSerializer(read_only=True)
    issued_at = serializers.DateTimeField(read_only=True)
    case_count = serializers.IntegerField(read_only=True)
    total_chf = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    corrects = serializers.IntegerField(source="corrects_id", read_only=True, allow_null=True,
                                        help_text="The statement this one corrects, if any.")


class FeeStatementDetailSerializer(FeeStatementSerializer):
    lines = LineSerializer(many=True, read_only=True)


def _pk(value):
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound() from None
    if not 0 < pk <= 2**63 - 1:
        raise NotFound()
    return pk


@extend_schema(tags=["fee statements"])
@extend_schema_view(
    list=extend_schema(summary="Case-fee statements of your institution (issued, immutable)",
                       responses=responses({200: FeeStatementSerializer(many=True)}, 400, 401, 404)),
    retrieve=extend_schema(summary="One statement with its lines (reference, months, rate, amount)",
                           responses=responses({200: FeeStatementDetailSerializer}, 401, 404)),
)
class FeeStatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = FeeStatementSerializer
    pagination_class = Pagination
    filter_backends = []
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.visible_statements(self.request.user).order_by("-month", "-id")

    def get_object(self):
        statement = self.get_queryset().prefetch_related("lines").filter(pk=_pk(self.kwargs["pk"])).first()
        if statement is None:
            raise NotFound()
        return statement

    def retrieve(self, request, pk=None):
        return Response(FeeStatementDetailSerializer(self.get_object()).data)

    @extend_schema(summary="The statement as PDF", responses=responses({
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF")}, 401, 404))
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        statement = self.get_object()
        response = HttpResponse(exports.to_pdf(statement), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{statement.number}.pdf"'
        return response
