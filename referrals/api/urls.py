"""REST API v1, mounted at /api/v1/ (optima/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.views import TokenView

from . import money, views

router = SimpleRouter()
router.register("institutions", views.InstitutionViewSet, basename="api-institution")
router.register("referrals", views.ReferralViewSet, basename="api-referral")
router.register("cost-approvals", views.CostApprovalViewSet, basename="api-cost-approval")
router.register("measures", money.MeasureViewSet, basename="api-measure")
router.register("invoices", money.InvoiceViewSet, basename="api-invoice")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    *router.urls,
]
