from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from institutions import views as institution_views
from referrals import views as referral_views

urlpatterns = [
    path("", referral_views.home, name="home"),
    path("anmelden/", account_views.LoginView.as_view(), name="login"),
    path("abmelden/", auth_views.LogoutView.as_view(), name="logout"),
    path("konto/", include("accounts.urls")),
    path("verzeichnis/", institution_views.directory, name="directory"),
    path("sprache/", institution_views.set_language, name="language"),
    path("verzeichnis/verwalten/", institution_views.directory_admin, name="directory_admin"),
    path("verzeichnis/verwalten/neu/", institution_views.institution_create, name="institution_create"),
    path("verzeichnis/verwalten/<int:pk>/", institution_views.institution_edit, name="institution_edit"),
    path("verzeichnis/verwalten/<int:pk>/entfernen/", institution_views.institution_remove, name="institution_remove"),
    path("verzeichnis/verwalten/import-pruefen/", institution_views.directory_import_dry_run,
         name="directory_import_dry_run"),
    path("faelle/", include("referrals.urls")),
    path("kennzahlen/", include("reporting.urls")),
    path("datenschutz/", include("audit.urls")),
    path("api/v1/audit/", include("audit.api.urls")),
    path("erinnerungen/", include("reminders.urls")),
    path("fallpauschalen/", include("billing.urls")),
    path("api/v1/reports/", include("reporting.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("referrals.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", http_method_names=["get", "head"]),
         name="api-docs"),
    path("admin/", admin.site.urls),
]
