"""Request plumbing of the accounts app: security headers, session timeouts, the second-factor gate."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from . import services


class SecurityHeadersMiddleware:
    """Permissions-Policy on every response; no caching of anything the application itself renders.

    Static files are answered by WhiteNoise before this middleware and keep their long cache lifetime; every
    other response may carry client data (pages, API, exports), so none of it is stored by browsers or proxies.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        add_never_cache_headers(response)
        response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
        return response


class SessionTimeoutMiddleware:
    """Log out after SESSION_IDLE_TIMEOUT seconds without a request, and after SESSION_COOKIE_AGE in any case."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            if services.session_expired(request.session):
                logout(request)
                messages.info(request, _("You were logged out because you were inactive for a while. "
                                         "Please log in again."))
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": _("Your session has expired. Please log in again.")},
                                        status=401)
                return redirect_to_login(request.get_full_path())
            services.session_touch(request.session)
        return self.get_response(request)


class SecondFactorMiddleware:
    """While a second factor is pending (set up or code), only the second-factor pages and log-out are reachable."""

    ALLOWED_URL_NAMES = ("accounts:mfa-verify", "accounts:mfa-enrol", "logout", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response
        self._allowed = None

    def allowed_paths(self):
        if self._allowed is None:
            self._allowed = {reverse(name) for name in self.ALLOWED_URL_NAMES}
        return self._allowed

    def __call__(self, request):
        state = request.session.get(services.SESSION_MFA_STATE) if hasattr(request, "session") else None
        if state and request.user.is_authenticated and request.path not in self.allowed_paths() \
                and not request.path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/")
                                                else "/" + settings.STATIC_URL):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": _("Confirm your second factor on the web page first.")}, status=403)
            if state == services.MFA_ENROL:
                return redirect(reverse("accounts:mfa-enrol"))
            target = reverse("accounts:mfa-verify")
            if request.method == "GET" and request.path != reverse(settings.LOGIN_REDIRECT_URL):
                target = f"{target}?{urlencode({'next': request.get_full_path()})}"
            return redirect(target)
        return self.get_response(request)
