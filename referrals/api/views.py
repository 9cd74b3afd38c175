"""REST API v1. Thin, like the pages: reads through the selectors, writes through the services.

Status codes: 400 bad input (field messages), 403 a referral the user may see but not act on (the services
say so), 404 anything outside the user's parties, 409 a step the current status does not allow.
"""

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import Action
from institutions.models import InstitutionKind, User
from institutions.selectors import (
    institutions_for_directory,
    user_primary_membership,
    user_roles,
)
from referrals import permissions, selectors, services
from referrals.models import CostApproval, Status

from . import serializers as s
from .exceptions import validation_error_detail

MAX_ID = s.MAX_ID

ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: `{field: [messages]}`, nested like the "
                                                          "request body; `non_field_errors` for the whole."),
    401: OpenApiResponse(s.ErrorSerializer, description="Not authenticated: send `Authorization: Token <key>`."),
    403: OpenApiResponse(s.ErrorSerializer, description="You may see this referral but not take this step."),
    404: OpenApiResponse(s.ErrorSerializer, description="Not found, or not one of your institutions' referrals."),
    409: OpenApiResponse(s.ConflictSerializer, description="Not possible while the referral (or cost approval) "
                                                           "has its current status."),
}


def responses(success, *codes):
    return {**success, **{code: ERRORS[code] for code in codes}}


ACTION = (400, 401, 403, 404, 409)


def _parse_id(value):
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound() from None
    if not 0 < pk <= MAX_ID:
        raise NotFound()
    return pk


def _service_errors(error):
    """A service's ValidationError about the application, placed like the request body (client.ahv_number...)."""
    return ApiValidationError(validation_error_detail(error, rename=s.SERVICE_FIELD_PATHS))


# --- Me ------------------------------------------------------------------------------------------------

class MeView(APIView):
    @extend_schema(operation_id="me_retrieve", tags=["me"], responses=responses({200: s.MeSerializer}, 401))
    def get(self, request):
        user = request.user
        context = {"membership": user_primary_membership(user), "roles": user_roles(user)}
        return Response(s.MeSerializer(user, context=context).data)


# --- Directory ---------------------------------------------------------------------------------------------

class Pagination(PageNumberPagination):
    """Pages as documented: ``?page=`` takes a number, nothing else (not even an empty value or 'last')."""

    last_page_strings = ()

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not re.fullmatch(r"[0-9]+", raw):
            raise NotFound(self.invalid_page_message.format(page_number=raw, message=""))
        return raw or 1


class KeysetCursor(CursorPagination):
    """Keyset pagination for long lists (issue 14): ``?cursor=`` walks the list by position, without OFFSET and
    without counting millions of rows; newest change first, like the page-number list."""

    ordering = ("-status_changed_at", "-id")
    page_size = 50


class ReferralPagination(Pagination):
    """The referral list in keyset pages by default (issue 14): newest change first, ``next``/``previous`` are
    cursor links and there is no ``count``, so a page costs the same at the top of a list of a million referrals
    as anywhere in it.
    ``?page=N`` still gives numbered pages with ``count`` (the contract of issue 5), at the price of counting
    the whole list and skipping with OFFSET."""

    def paginate_queryset(self, queryset, request, view=None):
        # The referral list itself; its sub-lists (comments, documents ...) of one case stay numbered.
        is_long_list = getattr(view, "action", None) == "list"
        self.keyset = KeysetCursor() if is_long_list and self.page_query_param not in request.query_params else None
        if self.keyset is not None:
            if request.query_params.get("cursor") == "":
                request = _without_empty_cursor(request)
            # A party's list: sent and received read with one index scan each (see selectors.keyset_page).
            queryset = selectors.read_by_sides(queryset, selectors.party_sides(request.user))
            return self.keyset.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self.keyset is not None:
            return self.keyset.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        """Both shapes: ``count`` only comes with ``?page=``."""
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = ["results"]
        paginated["properties"]["count"]["description"] = "Only with ?page= (numbered pages)."
        return paginated

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), {
            "name": "cursor", "required": False, "in": "query", "schema": {"type": "string"},
            "description": "Keyset pagination (the default): the cursor of the `next` link. Without `page`, "
                           "responses have no `count`."}]


def _without_empty_cursor(request):
    """The same request with ``cursor=`` removed (an empty cursor means: start at the top)."""
    params = request._request.GET.copy()
    params.pop("cursor", None)
    request._request.GET = params
    return request


class PresentValueMixin:
    """A filter given with an empty value (``?kind=``) is an error, not "no filter": the schema says so."""

    def clean(self, value):
        if value == "":
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return super().clean(value)


class StrictChoiceFilter(django_filters.ChoiceFilter):
    field_class = type("StrictChoiceField", (PresentValueMixin, django_filters.fields.ChoiceField), {})


class IdFilter(django_filters.Filter):
    field_class = type("IdField", (PresentValueMixin, forms.IntegerField), {})


class InstitutionFilter(django_filters.FilterSet):
    kind = StrictChoiceFilter(choices=InstitutionKind.choices)
    # A BFS number is stored as a PositiveIntegerField: at most 2**31 - 1 on PostgreSQL, which the schema then
    # declares; a larger number is a 400 like any value outside the schema, on every database.
    municipality = IdFilter(field_name="municipalities__bfs_number", min_value=0, max_value=2**31 - 1,
                            label="BFS number: only institutions serving this municipality")


@extend_schema_view(list=extend_schema(tags=["directory"], responses=responses(
    {200: s.DirectoryInstitutionSerializer(many=True)}, 400, 401, 404)))
class InstitutionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The directory: institutions, the municipalities they serve and their OPTIMA contact persons."""

    serializer_class = s.DirectoryInstitutionSerializer
    filterset_class = InstitutionFilter
    pagination_class = Pagination

    def get_queryset(self):
        return institutions_for_directory().order_by("name", "id")


# --- Referrals ---------------------------------------------------------------------------------------------

class ReferralFilter(django_filters.FilterSet):
    status = StrictChoiceFilter(choices=Status.choices)
    direction = StrictChoiceFilter(
        choices=[("sent", "sent"), ("received", "received")], method="filter_direction",
        label="sent: referrals your institution filed; received: referrals sent to your institution")

    def filter_direction(self, queryset, name, value):
        institution_ids = permissions.party_institution_ids(self.request.user)  # where the user works cases
        if value == "sent":
            return queryset.filter(referring_institution_id__in=institution_ids)
        return queryset.filter(receiving_institution_id__in=institution_ids)


NO_FILTERS = {"filter_backends": [], "filterset_class": None}
NO_PAGINATION = {"pagination_class": None}


@extend_schema_view(
    list=extend_schema(summary="Referrals you may see", responses=responses(
        {200: s.ReferralSerializer(many=True)}, 400, 401, 404)),
    create=extend_schema(summary="File a referral (draft) from your institution", request=s.ReferralInputSerializer,
                         responses=responses({201: s.ReferralDetailSerializer}, 400, 401, 403)),
    retrieve=extend_schema(summary="A referral with its assessment and event log",
                           responses=responses({200: s.ReferralDetailSerializer}, 401, 404)),
    partial_update=extend_schema(summary="Edit a draft", request=s.ReferralPatchSerializer,
                                 responses=responses({200: s.ReferralDetailSerializer}, *ACTION)),
)
@extend_schema(tags=["referrals"])
class ReferralViewSet(viewsets.GenericViewSet):
    serializer_class = s.ReferralSerializer
    filterset_class = ReferralFilter
    pagination_class = ReferralPagination
    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers 404 in JSON for malformed ones
    parser_classes = [JSONParser]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        # The case workers and the client's municipality by a query each, not as joins (selectors.LIST_RELATED).
        return (selectors.visible_referrals(self.request.user)
                .prefetch_related("client__municipality", *selectors.CASE_WORKERS)
                .order_by("-status_changed_at", "-id"))

    def get_referral(self):
        pk = _parse_id(self.kwargs["pk"])
        referral = selectors.referral_for_user(self.request.user, pk)
        if referral is None:
            services.referral_access_denied(user=self.request.user, pk=pk)
            raise NotFound()
        self.referral_in_request = referral  # a refused step on it is recorded (exceptions.api_exception_handler)
        return referral

    def get_referral_with_identity(self, action):
        """The referral for reads of free texts and documents: 404 (recorded as denied) without need to know."""
        referral = self.get_referral()
        if not permissions.can_see_client_identity(self.request.user, referral):
            services.referral_access_denied(user=self.request.user, pk=referral.pk, action=action)
            raise NotFound()
        return referral

    def detail_response(self, referral, status_code=status.HTTP_200_OK):
        user = self.request.user
        referral = selectors.referral_for_user(user, referral.pk) or referral
        context = {
            "request": self.request,
            "assessment": services.referral_assess(referral=referral),
            "next_step": selectors.next_step_for(user, referral),
            "events": selectors.referral_timeline(referral),
        }
        return Response(s.ReferralDetailSerializer(referral, context=context).data, status=status_code)

    # list / create / retrieve / partial_update

    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        services.access_log_record_many(
            user=request.user, action=Action.API_LIST,
            referrals=[r for r in page if permissions.can_see_client_identity(request.user, r)])
        return self.get_paginated_response(s.ReferralSerializer(page, many=True, context={"request": request}).data)

    def create(self, request):
        serializer = s.ReferralInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client_data, data = serializer.to_service_arguments()
        try:
            referral = services.referral_create_draft(actor=request.user, client_data=client_data, data=data)
        except ValidationError as error:
            raise _service_errors(error) from error
        return self.detail_response(referral, status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        referral = self.get_referral()
        services.access_log_record(user=request.user, referral=referral, action=Action.API_VIEW)
        return self.detail_response(referral)

    @extend_schema(summary="The full AHV number (recorded in the audit trail)", request=None,
                   responses=responses({200: s.AhvSerializer}, 401, 403, 404))
    @action(detail=True, methods=["post"], url_path="ahv", **NO_FILTERS, **NO_PAGINATION)
    def ahv(self, request, pk=None):
        referral = self.get_referral_with_identity(Action.AHV_REVEAL)
        services.access_log_record(user=request.user, referral=referral, action=Action.AHV_REVEAL)
        return Response({"ahv_number": referral.client.ahv_number})

    def partial_update(self, request, pk=None):
        referral = self.get_referral()
        serializer = s.ReferralPatchSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        client_data, data = serializer.to_service_arguments()
        try:
            services.referral_update_draft(referral=referral, actor=request.user, client_data=client_data or None,
                                           data=data)
        except ValidationError as error:
            raise _service_errors(error) from error
        return self.detail_response(referral)

    # Lifecycle

    def _validated(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(summary="Send the referral to the receiving institution", request=s.SubmitSerializer,
                   responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], **NO_FILTERS, **NO_PAGINATION)
    def submit(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.SubmitSerializer)
        try:
            services.referral_submit(referral=referral, actor=request.user,
                                     justification=values.get("justification"))
        except ValidationError as error:
            raise _service_errors(error) from error
        return self.detail_response(referral)

    @extend_schema(summary="Withdraw the referral (before a decision)", request=s.WithdrawSerializer,
                   responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], **NO_FILTERS, **NO_PAGINATION)
    def withdraw(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.WithdrawSerializer)
        services.referral_withdraw(referral=referral, actor=request.user, reason=values["reason"])
        return self.detail_response(referral)

    @extend_schema(summary="Change the client's personal data on a sent referral (Personalien ändern)",
                   request=s.PersonalDataSerializer, responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], url_path="personal-data", **NO_FILTERS, **NO_PAGINATION)
    def personal_data(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.PersonalDataSerializer)
        services.client_change_personal_data(referral=referral, actor=request.user, client_data=dict(values))
        return self.detail_response(referral)

    @extend_schema(summary="Record that the client withdrew consent: the referral ends",
                   request=s.ConsentWithdrawalSerializer,
                   responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], url_path="withdraw-consent", **NO_FILTERS, **NO_PAGINATION)
    def withdraw_consent(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.ConsentWithdrawalSerializer)
        services.referral_withdraw_consent(referral=referral, actor=request.user, **values)
        return self.detail_response(referral)

    @extend_schema(summary="Accept the referral and assign a case worker", request=s.AcceptSerializer,
                   responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], **NO_FILTERS, **NO_PAGINATION)
    def accept(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.AcceptSerializer)
        case_worker = User.objects.filter(pk=values["case_worker"], is_active=True).first()
        services.referral_accept(referral=referral, actor=request.user, case_worker=case_worker)
        return self.detail_response(referral)

    @extend_schema(summary="Reject the referral with a reason", request=s.RejectSerializer,
                   responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], **NO_FILTERS, **NO_PAGINATION)
    def reject(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.RejectSerializer)
        services.referral_reject(referral=referral, actor=request.user, reason=values["reason"],
                                 reason_text=values["reason_text"])
        return self.detail_response(referral)

    @extend_schema(summary="Record the handover meeting: active, or not_started if not all agreed",
                   request=s.HandoverSerializer, responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], **NO_FILTERS, **NO_PAGINATION)
    def handover(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.HandoverSerializer)
        services.handover_record(referral=referral, actor=request.user, **values)
        return self.detail_response(referral)

    @extend_schema(summary="Record a status meeting: continue, or close the case",
                   request=s.StatusMeetingSerializer, responses=responses({200: s.ReferralDetailSerializer}, *ACTION))
    @action(detail=True, methods=["post"], url_path="status-meetings", **NO_FILTERS, **NO_PAGINATION)
    def status_meetings(self, request, pk=None):
        referral = self.get_referral()
        values = self._validated(s.StatusMeetingSerializer)
        services.status_meeting_record(referral=referral, actor=request.user, **values)
        return self.detail_response(referral)

    # Comments, cost approvals, documents

    def _page(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    @extend_schema(methods=["GET"], summary="Questions and comments", request=None,
                   responses=responses({200: s.CommentSerializer(many=True)}, 401, 404))
    @extend_schema(methods=["POST"], summary="Ask a question or comment", request=s.CommentSerializer,
                   responses=responses({201: s.CommentSerializer}, *ACTION))
    @action(detail=True, methods=["get", "post"], **NO_FILTERS)
    def comments(self, request, pk=None):
        if request.method == "GET":
            referral = self.get_referral_with_identity(Action.API_COMMENTS)
            services.access_log_record(user=request.user, referral=referral, action=Action.API_COMMENTS)
            return self._page(referral.comments.select_related("author").order_by("created_at", "id"),
                              s.CommentSerializer)
        referral = self.get_referral()
        values = self._validated(s.CommentSerializer)
        comment = services.comment_add(referral=referral, actor=request.user, text=values["text"])
        return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], summary="Cost approvals of this referral", request=None,
                   responses=responses({200: s.CostApprovalSerializer(many=True)}, 401, 404))
    @extend_schema(methods=["POST"], summary="Request a cost approval from the financing institution",
                   request=s.CostApprovalSerializer, responses=responses({201: s.CostApprovalSerializer}, *ACTION))
    @action(detail=True, methods=["get", "post"], url_path="cost-approvals", **NO_FILTERS)
    def cost_approvals(self, request, pk=None):
        referral = self.get_referral()
        if request.method == "GET":
            approvals = referral.cost_approvals.select_related(
                "requesting_institution", "financing_institution", "requested_by", "decided_by").order_by(
                "requested_at", "id")
            services.access_log_record(user=request.user, referral=referral, action=Action.API_COST_APPROVALS)
            response = self._page(approvals, s.CostApprovalSerializer)
            if not permissions.can_see_client_identity(request.user, referral):
                for row in response.data["results"]:
                    row.update(dict.fromkeys(s.CostApprovalSerializer.FREE_TEXTS, ""))
            return response
        values = self._validated(s.CostApprovalSerializer)
        approval = services.cost_approval_request(referral=referral, actor=request.user, **values)
        return Response(s.CostApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], summary="Documents of this referral", request=None,
                   responses=responses({200: s.DocumentSerializer(many=True)}, 401, 404))
    @extend_schema(methods=["POST"], summary="Add a document",
                   request={"multipart/form-data": s.DocumentSerializer},
                   responses=responses({201: s.DocumentSerializer}, 400, 401, 403, 404))
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser], **NO_FILTERS)
    def documents(self, request, pk=None):
        # Documents are for the two parties only, as on the pages.
        referral = self.get_referral_with_identity(Action.API_DOCUMENTS)
        if request.method == "GET":
            services.access_log_record(user=request.user, referral=referral, action=Action.API_DOCUMENTS)
            return self._page(referral.documents.select_related("uploaded_by").order_by("uploaded_at", "id"),
                              s.DocumentSerializer)
        values = self._validated(s.DocumentSerializer)
        document = services.document_upload(referral=referral, actor=request.user, uploaded_file=values["file"],
                                            kind=values["kind"])
        return Response(s.DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


# --- Cost approvals ------------------------------------------------------------------------------------------

@extend_schema(tags=["cost approvals"])
class CostApprovalViewSet(viewsets.GenericViewSet):
    """Signing and refusing cost approvals (Kostengutsprachen) of referrals you may see."""

    serializer_class = s.CostApprovalSerializer
    lookup_value_regex = "[^/]+"
    parser_classes = [JSONParser]
    filter_backends = []
    pagination_class = None

    def get_queryset(self):
        return CostApproval.objects.filter(referral__in=selectors.visible_referrals(self.request.user))

    def get_cost_approval(self):
        pk = _parse_id(self.kwargs["pk"])
        approval = (self.get_queryset().select_related("referral", "financing_institution")
                    .filter(pk=pk).first())
        if approval is None or not permissions.can_view(self.request.user, approval.referral):
            services.cost_approval_access_denied(user=self.request.user, pk=pk)
            raise NotFound()
        self.referral_in_request = approval.referral
        return approval

    def _answer(self, approval):
        approval = CostApproval.objects.select_related(
            "requesting_institution", "financing_institution", "requested_by", "decided_by").get(pk=approval.pk)
        return Response(s.CostApprovalSerializer(approval).data)

    @extend_schema(summary="Sign (approve) the cost approval", request=None,
                   responses=responses({200: s.CostApprovalSerializer}, 401, 403, 404, 409))
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        approval = services.cost_approval_approve(cost_approval=self.get_cost_approval(), actor=request.user)
        return self._answer(approval)

    @extend_schema(summary="Refuse the cost approval with a reason", request=s.RefuseSerializer,
                   responses=responses({200: s.CostApprovalSerializer}, *ACTION))
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        approval = self.get_cost_approval()
        serializer = s.RefuseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        approval = services.cost_approval_refuse(cost_approval=approval, actor=request.user,
                                                 reason=serializer.validated_data["reason"])
        return self._answer(approval)

