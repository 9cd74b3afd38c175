from django.urls import path

app_name = "referrals"
urlpatterns = [
    path("", lambda r: None, name="list"),
    path("neu/", lambda r: None, name="create"),
    path("<int:pk>/", lambda r, pk: None, name="detail"),
]
