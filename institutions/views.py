from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import services
from .selectors import institutions_for_directory


@login_required
def directory(request):
    return render(request, "institutions/directory.html", {"institutions": institutions_for_directory()})


@require_POST
def set_language(request):
    """The language switch in the header: remembered on the user (and in a cookie before logging in)."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    if language not in dict(settings.LANGUAGES):
        return redirect(next_url)
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, actor=request.user, language=language)
    response = redirect(next_url)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE or 31536000,
                        samesite="Lax", secure=request.is_secure(), httponly=True)
    return response
