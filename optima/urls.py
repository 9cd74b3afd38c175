from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from institutions import views as institution_views
from referrals import views as referral_views

urlpatterns = [
    path("", referral_views.home, name="home"),
    path("anmelden/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("abmelden/", auth_views.LogoutView.as_view(), name="logout"),
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
    path("api/v1/reports/", include("reporting.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("referrals.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
         name="api-docs"),
    path("admin/", admin.site.urls),
]
