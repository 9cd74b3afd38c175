from django.urls import path

from .api import KpiSheetView

app_name = "reporting_api"
urlpatterns = [path("kpi/", KpiSheetView.as_view(), name="kpi")]
