from django.utils.translation import gettext as _


class TransitionNotAllowed(Exception):
    """The current status does not allow this step (HTTP 409 in the API). Nothing was changed."""

    def __init__(self, current_status, target_status, message=None):
        from .models import Status

        self.from_status = current_status
        self.to_status = target_status
        if message is None:
            label = Status(current_status).label if current_status in Status.values else current_status
            message = _("This step is not possible while the referral is “%(current)s”.") % {"current": label}
        self.message = message
        super().__init__(message)
