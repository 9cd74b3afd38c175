from django.urls import path

from . import views

app_name = "reporting"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("modell-c/", views.model_c, name="model_c"),
    path("berichte/", views.snapshot_list, name="snapshots"),
    path("berichte/neu/", views.snapshot_create, name="snapshot_create"),
    path("berichte/<int:pk>/", views.snapshot_detail, name="snapshot"),
    path("berichte/<int:pk>/wiederholen/", views.snapshot_retry, name="snapshot_retry"),
    path("berichte/<int:pk>/<str:fmt>/", views.snapshot_download, name="snapshot_download"),
]
