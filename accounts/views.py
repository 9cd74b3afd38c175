"""Account pages: second factor (set up, confirm at log-in), password change, API tokens; the lockout answer."""

import base64
import io

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import CodeForm, LoginForm

RECOVERY_SESSION_KEY = "accounts_new_recovery_codes"


def _add_errors(form, error):
    for field, messages_ in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages_)


def _qr_svg_data_uri(text):
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


@login_required
@sensitive_post_parameters("code")
def mfa_enrol(request):
    """Set up the second factor: scan the QR code, confirm with the first code, note the recovery codes."""
    try:
        device = services.mfa_enrolment_start(actor=request.user)
    except ValidationError as error:
        messages.info(request, error.messages[0])
        return redirect("accounts:account")
    form = CodeForm(request.POST or None)
    form.fields["code"].help_text = _("The six digits the app shows now for OPTIMA.")
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_enrolment_confirm(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            services.mfa_session_verified(request=request)
            request.session[RECOVERY_SESSION_KEY] = codes
            messages.success(request, _("Your second factor is set up."))
            return redirect("accounts:recovery-codes")
    secret = base64.b32encode(device.bin_key).decode()
    return render(request, "accounts/mfa_enrol.html", {
        "form": form, "qr_code": _qr_svg_data_uri(device.config_url),
        "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
        "required": services.mfa_required_for(request.user),
    }, status=400 if form.errors else 200)


@login_required
@sensitive_post_parameters("code")
def mfa_verify(request):
    """At log-in: the code from the app (or a recovery code) before any other page opens."""
    if request.session.get(services.SESSION_MFA_STATE) != services.MFA_VERIFY:
        return redirect("home")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            kind = services.mfa_verify(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            services.mfa_session_verified(request=request)
            if kind == "recovery":
                messages.warning(request, _("You used a recovery code; it is now used up. Create new recovery "
                                            "codes on your account page when few are left."))
            target = request.GET.get("next", "")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
                target = settings.LOGIN_REDIRECT_URL
            return redirect(target)
    return render(request, "accounts/mfa_verify.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def recovery_codes(request):
    """Shows new recovery codes once, right after they were made."""
    codes = request.session.pop(RECOVERY_SESSION_KEY, None)
    if not codes:
        return redirect("accounts:account")
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
@require_POST
def recovery_codes_renew(request):
    try:
        codes = services.mfa_recovery_codes_renew(actor=request.user)
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("accounts:account")
    request.session[RECOVERY_SESSION_KEY] = codes
    return redirect("accounts:recovery-codes")


@login_required
@sensitive_post_parameters("code")
def mfa_remove(request):
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.mfa_remove(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            _add_errors(form, error)
        except PermissionDenied as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Your second factor is removed."))
            return redirect("accounts:account")
    return render(request, "accounts/mfa_remove.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def account(request):
    """My account: password, second factor, API tokens."""
    return render(request, "accounts/account.html", {
        "second_factor": selectors.second_factor_of(request.user),
        "mfa_required": services.mfa_required_for(request.user),
        "tokens": selectors.api_tokens_of(request.user),
    })


@login_required
@require_POST
def token_revoke(request):
    try:
        services.api_token_revoke(actor=request.user, digest=request.POST.get("token", "")[:200])
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The API token is revoked; programs using it can no longer log in."))
    return redirect("accounts:account")


@login_required
@require_POST
def token_revoke_all(request):
    count = services.api_token_revoke_all(actor=request.user)
    messages.success(request, _("%(count)s API tokens revoked.") % {"count": count})
    return redirect("accounts:account")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_changed(actor=form.user)
        messages.success(self.request, _("Your password is changed."))
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_changed(actor=form.user)
        return response


def lockout_response(request, original_response=None, credentials=None):
    """django-axes: the answer while a user name or address is locked (web page or API, German by default)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _("Too many failed log-ins. This account is locked for %(minutes)s minutes, even with the right "
                "password. Try again later or ask your OPTIMA administrator to unlock it.") % {"minutes": minutes}
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "locked_out"}, status=settings.AXES_HTTP_RESPONSE_CODE)
    response = TemplateResponse(request, "accounts/locked_out.html", {"message": message, "minutes": minutes},
                                status=settings.AXES_HTTP_RESPONSE_CODE)
    return response.render()


