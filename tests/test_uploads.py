"""Uploads (issue 10, item 5): refused early by size, checked by their bytes, stored with the detected type."""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from knox.models import AuthToken
from rest_framework.test import APIClient

from optima.middleware import LimitedUploadHandler, RequestSizeLimitMiddleware
from referrals import services
from referrals.models import Document, Status

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_an_exe_renamed_pdf_is_refused_with_a_german_message(make_referral, referrer, media):
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(ValidationError) as caught, translation.override("de-ch"):
        services.document_upload(referral=referral, actor=referrer, kind="other",
                                 uploaded_file=SimpleUploadedFile("rechnung.pdf", EXE, content_type="application/pdf"))
    assert "passt nicht zu ihrem Namen (.pdf)" in caught.value.message_dict["file"][0]
    assert not Document.objects.exists()
    assert not [path for path in media.rglob("*") if path.is_file()]


def test_the_page_refuses_the_renamed_exe_and_says_why(client, make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    response = client.post(reverse("referrals:upload_document", args=[referral.pk]), {
        "kind": "other", "file": SimpleUploadedFile("rechnung.pdf", EXE, content_type="application/pdf")})
    assert response.status_code == 400
    assert "keine echte PDF-Datei" in response.content.decode()
    assert not Document.objects.exists()


def test_the_api_refuses_the_renamed_exe_with_400(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=referrer)[1]}")
    response = api.post(f"/api/v1/referrals/{referral.pk}/documents/", {
        "kind": "other", "file": SimpleUploadedFile("rechnung.pdf", EXE, content_type="application/pdf")},
        format="multipart")
    assert response.status_code == 400
    assert "does not match its name" in response.json()["file"][0]


def test_the_stored_and_served_content_type_is_the_detected_one(client, make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    document = services.document_upload(
        referral=referral, actor=referrer, kind="other",
        uploaded_file=SimpleUploadedFile("foto.png", PNG, content_type="application/pdf"))
    assert document.content_type == "image/png"
    client.force_login(referrer)
    response = client.get(reverse("referrals:document", args=[referral.pk, document.pk]))
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG


def test_a_picture_named_docx_is_refused(make_referral, referrer, english):
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(ValidationError) as caught:
        services.document_upload(referral=referral, actor=referrer, kind="other",
                                 uploaded_file=SimpleUploadedFile("brief.docx", PNG))
    assert "not a real DOCX file" in caught.value.message_dict["file"][0]


def test_plain_text_in_utf8_or_windows_1252_is_a_txt_but_binary_is_not(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    for content in ("Notiz für die Übergabe\n".encode(), "Notiz für die Übergabe\n".encode("cp1252")):
        document = services.document_upload(referral=referral, actor=referrer, kind="other",
                                            uploaded_file=SimpleUploadedFile("notiz.txt", content))
        assert document.content_type == "text/plain"
    with pytest.raises(ValidationError):
        services.document_upload(referral=referral, actor=referrer, kind="other",
                                 uploaded_file=SimpleUploadedFile("notiz.txt", b"\x00\x01\x02binary"))


class ExplodingStream(io.BytesIO):
    """A request body that must never be read."""

    def read(self, *args, **kwargs):
        raise AssertionError("the body of a too large request was read")

    readline = read


def _big_request(path, settings, **extra):
    request = RequestFactory().generic("POST", path, content_type="multipart/form-data; boundary=x", **extra)
    request.META["CONTENT_LENGTH"] = str(50 * 1024 * 1024)
    request.META["wsgi.input"] = ExplodingStream()
    request._stream = ExplodingStream()
    return request


def test_a_50_mb_upload_is_refused_from_its_header_before_the_body_is_read(settings):
    middleware = RequestSizeLimitMiddleware(lambda request: HttpResponse("reached the view"))
    response = middleware(_big_request("/faelle/1/dokumente/", settings))
    assert response.status_code == 413
    page = response.content.decode()
    assert "Die Datei ist zu gross (50.0 MB); erlaubt sind höchstens 10 MB." in page
    assert "Es wurde nichts gespeichert" in page


def test_the_api_gets_a_json_413_in_its_language(settings):
    middleware = RequestSizeLimitMiddleware(lambda request: HttpResponse("reached the view"))
    response = middleware(_big_request("/api/v1/referrals/1/documents/", settings, HTTP_ACCEPT_LANGUAGE="en"))
    assert response.status_code == 413
    assert "too large (50.0 MB); the limit is 10 MB" in json.loads(response.content)["detail"]


def test_requests_within_the_limit_pass(client, referrer):
    client.force_login(referrer)
    assert client.get(reverse("home")).status_code == 200


def test_the_middleware_is_installed_early_and_the_upload_handler_first(settings):
    assert settings.MIDDLEWARE.index("optima.middleware.RequestSizeLimitMiddleware") < settings.MIDDLEWARE.index(
        "django.contrib.sessions.middleware.SessionMiddleware")
    assert settings.FILE_UPLOAD_HANDLERS[0] == "optima.middleware.LimitedUploadHandler"
    assert settings.REQUEST_MAX_BYTES > settings.DOCUMENT_MAX_BYTES


def test_a_body_without_length_is_cut_off_once_it_passes_the_limit(settings):
    settings.REQUEST_MAX_BYTES = 1000
    handler = LimitedUploadHandler()
    assert handler.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"x" * 600, 600)
