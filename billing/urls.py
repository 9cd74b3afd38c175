from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("", views.statement_list, name="statements"),
    path("erstellen/", views.statement_build, name="build"),
    path("einstellungen/", views.fee_settings, name="settings"),
    path("<int:pk>/", views.statement_detail, name="statement"),
    path("<int:pk>/<str:fmt>/", views.statement_download, name="download"),
]
