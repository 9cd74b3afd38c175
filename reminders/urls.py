from django.urls import path

from . import views

app_name = "reminders"
urlpatterns = [
    path("einstellungen/", views.preferences, name="preferences"),
]
