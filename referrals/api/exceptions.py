"""How the services' exceptions reach API clients.

The services speak Django: ``PermissionDenied`` (a known object the user may see but not act on -> 403),
``ValidationError`` with a dict of field messages (-> 400) and ``TransitionNotAllowed`` (the current
status does not allow the step -> 409). Registered as ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from referrals import services
from referrals.errors import TransitionNotAllowed


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This step is not possible in the current status.")
    default_code = "transition_not_allowed"


def validation_error_detail(error, *, rename=None):
    """A Django ValidationError as DRF error detail: ``{field: [messages]}``, '__all__' as non_field_errors.

    ``rename`` maps a service field name to a path in the request body, e.g. ``{"ahv_number": ("client",
    "ahv_number")}``, so the message lands where the client sent the value.
    """
    detail = get_error_detail(error)
    if not isinstance(detail, dict):
        return {api_settings.NON_FIELD_ERRORS_KEY: detail}
    shaped = {}
    for field, messages in detail.items():
        path = (rename or {}).get(field, (field,))
        if path == ("__all__",):
            path = (api_settings.NON_FIELD_ERRORS_KEY,)
        target = shaped
        for part in path[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                # A message about the whole section (e.g. "client") and one about a field inside it:
                # the section's own messages go under non_field_errors inside it.
                target[part] = {api_settings.NON_FIELD_ERRORS_KEY: existing} if existing else {}
            target = target[part]
        leaf = path[-1]
        if isinstance(target.get(leaf), dict):
            target[leaf].setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(messages)
        else:
            target.setdefault(leaf, []).extend(messages)
    return shaped


def _record_refused_step(context):
    """A service refused a step on a referral the user may see (403): the audit trail records it as denied."""
    view, request = context.get("view"), context.get("request")
    referral = getattr(view, "referral_in_request", None)
    if referral is not None and request is not None:
        services.referral_step_denied(user=request.user, referral=referral)


def api_exception_handler(exc, context):
    if isinstance(exc, TransitionNotAllowed):
        exc = Conflict(detail={
            "detail": exc.message,
            "code": Conflict.default_code,
            "current_status": str(exc.from_status),
            "target_status": str(exc.to_status),
        })
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=validation_error_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        _record_refused_step(context)
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    return exception_handler(exc, context)
