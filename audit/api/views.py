"""GET /api/v1/audit/?referral=<id>&user=<id>&from=YYYY-MM-DD&to=YYYY-MM-DD - for the data-protection role only."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination

from audit import selectors, services
from audit.models import Action

from .serializers import AuditErrorSerializer, AuditRecordSerializer

MAX_ID = 2**63 - 1


class AuditQuery(forms.Form):
    referral = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    user = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    from_ = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    to = forms.DateField(required=False, input_formats=["%Y-%m-%d"])


def _start_of(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class AuditPagination(PageNumberPagination):
    page_size = 100


class AuditListView(ListAPIView):
    """The audit trail, newest first: who read or tried to read which case, and when."""

    serializer_class = AuditRecordSerializer
    pagination_class = AuditPagination
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params.copy()
        if "from" in params:
            params["from_"] = params.pop("from")[-1]
        query = AuditQuery(params)
        if not query.is_valid():
            raise ValidationError({("from" if k == "from_" else k): v for k, v in query.errors.items()})
        data = query.cleaned_data
        return selectors.audit_records(
            referral_id=data["referral"], actor=data["user"],
            since=_start_of(data["from_"]) if data["from_"] else None,
            until=_start_of(data["to"] + datetime.timedelta(days=1)) if data["to"] else None)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not selectors.can_read_audit(request.user):
            raise PermissionDenied(_("The audit trail is for the data-protection officer only."))

    @extend_schema(
        operation_id="audit_list", tags=["audit"],
        parameters=[
            OpenApiParameter("referral", int, description="Only records about this case (id)."),
            OpenApiParameter("user", int, description="Only records of this user (id)."),
            OpenApiParameter("from", datetime.date, description="From this day (YYYY-MM-DD)."),
            OpenApiParameter("to", datetime.date, description="Until this day, inclusive (YYYY-MM-DD)."),
            OpenApiParameter("page", int, description="A page number within the paginated result set."),
        ],
        responses={
            200: AuditRecordSerializer(many=True),
            400: OpenApiResponse(description="Bad filter: `{parameter: [messages]}`."),
            401: OpenApiResponse(AuditErrorSerializer, description="Not authenticated."),
            403: OpenApiResponse(AuditErrorSerializer, description="Only the data-protection role reads the trail."),
            404: OpenApiResponse(AuditErrorSerializer, description="No such page."),
        },
    )
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        services.audit_record(actor=request.user, action=Action.AUDIT_READ, target=None)
        return response
