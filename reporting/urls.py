from django.urls import path

app_name = "reporting"
urlpatterns = [path("", lambda r: None, name="dashboard")]
