from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """knox tokens as `Authorization: Token <key>`, with one query per request and a clear message on expiry.

    knox itself also deletes the user's other expired tokens on every request (one more query); here expired
    tokens are refused and removed by `manage.py purge_api_tokens` (run daily by beat).
    """

    def authenticate_credentials(self, token):
        token = token.decode("utf-8", errors="replace")
        for auth_token in get_token_model().objects.filter(
                token_key=token[:CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user"):
            try:
                digest = hash_token(token)
            except (TypeError, ValueError):
                break
            if compare_digest(digest, auth_token.digest):
                if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                    raise exceptions.AuthenticationFailed(
                        _("This API token has expired. Request a new one at /api/v1/auth/token/."))
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))


class TokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes the token header (as DRF's TokenAuthentication was described before)."""

    target_class = "accounts.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": _("Token-based authentication with required prefix \"Token\"")}
