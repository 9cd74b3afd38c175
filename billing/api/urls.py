"""Mounted at /api/v1/ (optima/urls.py), next to the referrals API."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("fee-statements", views.FeeStatementViewSet, basename="api-fee-statement")
urlpatterns = router.urls
