"""Requests larger than any upload may be are refused before their body is read.

The limit is ``REQUEST_MAX_BYTES`` (the document limit plus room for the form fields). The check reads only the
``Content-Length`` header, so a 50 MB upload costs nothing; a request without one (chunked) is cut off by
``LimitedUploadHandler`` as soon as it passes the limit. In production the reverse proxy refuses larger bodies
even earlier (nginx ``client_max_body_size``, see README "Uploads").
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def _limit_mb():
    return settings.DOCUMENT_MAX_BYTES // (1024 * 1024)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_MAX_BYTES:
            return self.refuse(request, length)
        return self.get_response(request)

    def refuse(self, request, length):
        language = translation.get_language_from_request(request)
        with translation.override(language):
            message = _("The file is too large (%(size)s MB); the limit is %(limit)s MB. Please reduce it "
                        "(e.g. scan in black and white or split it) and add it again.") % {
                "size": round(length / 1048576, 1), "limit": _limit_mb()}
            if request.path.startswith("/api/"):
                response = JsonResponse({"detail": message}, status=413)
            else:
                back = self.back_url(request)
                response = HttpResponse(render_to_string("request_too_large.html", {
                    "message": message, "back": back}), status=413)
        # The body is left unread. (No "Connection: close" header: WSGI forbids hop-by-hop headers; the
        # server and the reverse proxy decide about the connection.)
        return response


    @staticmethod
    def back_url(request):
        """The case the upload was for (its documents section), else the page the user came from."""
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        if match is not None and match.namespace == "referrals" and "pk" in match.kwargs:
            return reverse("referrals:detail", args=[match.kwargs["pk"]]) + "#documents"
        referer = request.META.get("HTTP_REFERER", "")
        if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
            return referer
        return reverse("home")


class LimitedUploadHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes the limit (for bodies without Content-Length)."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.REQUEST_MAX_BYTES:
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None
