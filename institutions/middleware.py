"""The product's language comes from the user, never from the browser alone (issue 12).

Order: the logged-in user's own setting; else the language chosen with the switch (cookie); else, as a
first guess, the browser's preference among German, French and Italian; else German. English is offered
in the switch but never picked from the browser. The REST API (/api/) follows Accept-Language as before,
since machines ask for their language explicitly.
"""

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers

BROWSER_GUESS_LANGUAGES = ("de-ch", "fr-ch", "it-ch")


def _supported(code):
    return code if code in dict(settings.LANGUAGES) else None


def browser_guess(request):
    """The first of the browser's languages that is German, French or Italian."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for accepted, _quality in translation.trans_real.parse_accept_lang_header(header):
        base = accepted.split("-")[0].lower()
        for code in BROWSER_GUESS_LANGUAGES:
            if code.split("-")[0] == base:
                return code
    return None


def language_for(request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and _supported(getattr(user, "language", "")):
        return user.language
    chosen = _supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, ""))
    if chosen:
        return chosen
    if request.path.startswith("/api/"):
        return translation.get_language_from_request(request)
    return browser_guess(request) or settings.LANGUAGE_CODE


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = language_for(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response
