"""POST /api/v1/auth/token/: user name, password (and `otp` with a second factor) for an expiring API token."""

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts import services
from accounts.views import lockout_response

from . import serializers as s


class TokenView(APIView):
    """Exchange user name and password (and the second factor's `otp`) for an API token (`Authorization: Token
    <key>`). The token expires (30 days by default) and is shown only in this answer: the server keeps a hash."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, ScopedRateThrottle]
    throttle_scope = "auth_token"
    parser_classes = (JSONParser, FormParser, MultiPartParser)

    @extend_schema(
        operation_id="auth_token_create", tags=["auth"], auth=[], request=s.TokenRequestSerializer,
        responses={
            200: s.TokenSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Wrong user name, password or `otp`: "
                                                                  "`{field: [messages]}`."),
            403: OpenApiResponse(s.DetailSerializer, description="The account must set up its second factor on "
                                                                 "the web page first."),
            429: OpenApiResponse(s.DetailSerializer, description="Too many requests or failed log-ins: the user "
                                                                 "name or address is locked for a while."),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        django_request = request._request  # django-axes records the attempt on the HttpRequest
        user = authenticate(request=django_request, username=data["username"], password=data["password"])
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        if user is None:
            raise exceptions.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [_("Unable to log in with the user name and password given.")]})
        state = services.mfa_state_for(user)
        if state == services.MFA_ENROL:
            raise exceptions.PermissionDenied(_("Your role requires a second factor. Log in on the web page once "
                                                "to set it up, then request the token with `otp`."))
        if state == services.MFA_VERIFY:
            if not data.get("otp"):
                raise exceptions.ValidationError({"otp": [_("Enter the current code of your authenticator app.")]})
            try:
                services.mfa_verify(actor=user, code=data["otp"])
            except DjangoValidationError as error:
                raise exceptions.ValidationError({"otp": error.message_dict.get("code", error.messages)}) from None
        try:
            instance, token = services.api_token_issue(actor=user)
        except PermissionDenied as error:
            raise exceptions.PermissionDenied(str(error)) from None
        return Response(s.TokenSerializer({"token": token, "expiry": instance.expiry}).data)
