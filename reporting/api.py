"""GET /api/v1/reports/kpi/?from=YYYY-MM-DD&to=YYYY-MM-DD: the pilot's KPI sheet as JSON (issue 5)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import kpi, selectors
from .forms import PeriodForm


class IsCoordinatorOrAdministrator(BasePermission):
    message = "Only the IIZ coordinator and administrators can read the key figures."

    def has_permission(self, request, view):
        return selectors.can_see_reports(request.user)


class KpiSheetView(APIView):
    """The KPI sheet of a period: counts of the events that happened in it. No client data."""

    permission_classes = [IsAuthenticated, IsCoordinatorOrAdministrator]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (included); default: the beginning"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (included, Zurich time); default: today"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        form = PeriodForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({name: [str(e) for e in errors] for name, errors in form.errors.items()})
        return Response(kpi.sheet(form.period))
