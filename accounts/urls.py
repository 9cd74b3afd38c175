"""Account pages, mounted at /konto/ (optima/urls.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.account, name="account"),
    path("zwei-faktor/einrichten/", views.mfa_enrol, name="mfa-enrol"),
    path("zwei-faktor/pruefen/", views.mfa_verify, name="mfa-verify"),
    path("zwei-faktor/entfernen/", views.mfa_remove, name="mfa-remove"),
    path("zwei-faktor/wiederherstellungscodes/", views.recovery_codes, name="recovery-codes"),
    path("zwei-faktor/wiederherstellungscodes/neu/", views.recovery_codes_renew, name="recovery-codes-renew"),
    path("api-token/widerrufen/", views.token_revoke, name="token-revoke"),
    path("api-token/alle-widerrufen/", views.token_revoke_all, name="token-revoke-all"),
    path("passwort/aendern/", views.PasswordChangeView.as_view(), name="password-change"),
    path("passwort/vergessen/", auth_views.PasswordResetView.as_view(
        template_name="accounts/password_reset.html",
        email_template_name="accounts/password_reset_email.txt",
        subject_template_name="accounts/password_reset_subject.txt",
        success_url=reverse_lazy("accounts:password-reset-done")), name="password-reset"),
    path("passwort/vergessen/gesendet/", auth_views.PasswordResetDoneView.as_view(
        template_name="accounts/password_reset_done.html"), name="password-reset-done"),
    path("passwort/neu/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("passwort/neu/fertig/", auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"), name="password-reset-complete"),
]
