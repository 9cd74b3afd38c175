from django.urls import path

from . import views

app_name = "referrals"
urlpatterns = [
    path("", views.referral_list, name="list"),
    path("neu/", views.referral_create, name="create"),
    path("pruefen/", views.referral_check, name="check"),
    path("<int:pk>/", views.referral_detail, name="detail"),
    path("<int:pk>/bearbeiten/", views.referral_edit, name="edit"),
    path("<int:pk>/ahv-anzeigen/", views.ahv_reveal, name="ahv_reveal"),
    path("<int:pk>/annehmen/", views.accept, name="accept"),
    path("<int:pk>/ablehnen/", views.reject, name="reject"),
    path("<int:pk>/zurueckziehen/", views.withdraw, name="withdraw"),
    path("<int:pk>/kommentar/", views.comment, name="comment"),
    path("<int:pk>/uebergabe/planen/", views.schedule_handover, name="schedule_handover"),
    path("<int:pk>/uebergabe/protokoll/", views.record_handover, name="record_handover"),
    path("<int:pk>/standort/planen/", views.schedule_status_meeting, name="schedule_status_meeting"),
    path("<int:pk>/standort/protokoll/", views.record_status_meeting, name="record_status_meeting"),
    path("<int:pk>/kostengutsprache/", views.request_cost_approval, name="request_cost_approval"),
    path("<int:pk>/kostengutsprache/<int:approval_pk>/unterschreiben/", views.approve_cost_approval,
         name="approve_cost_approval"),
    path("<int:pk>/kostengutsprache/<int:approval_pk>/ablehnen/", views.refuse_cost_approval,
         name="refuse_cost_approval"),
    path("<int:pk>/kostengutsprache/<int:approval_pk>/rechnung/", views.record_invoice, name="record_invoice"),
    path("<int:pk>/personalien/", views.change_personal_data, name="change_personal_data"),
    path("<int:pk>/einwilligung-widerrufen/", views.withdraw_consent, name="withdraw_consent"),
    path("<int:pk>/termine/<int:meeting_pk>.ics", views.meeting_calendar, name="meeting_ics"),
    path("<int:pk>/massnahmen/", views.plan_measure, name="plan_measure"),
    path("<int:pk>/massnahmen/<int:object_pk>/starten/", views.start_measure, name="start_measure"),
    path("<int:pk>/rechnungen/", views.record_new_invoice, name="record_new_invoice"),
    path("<int:pk>/rechnungen/<int:object_pk>/weiterleiten/", views.forward_invoice, name="forward_invoice"),
    path("<int:pk>/rechnungen/<int:object_pk>/erhalten/", views.confirm_invoice, name="confirm_invoice"),
    path("<int:pk>/rechnungen/<int:object_pk>/datei/", views.invoice_download, name="invoice_file"),
    path("<int:pk>/dokumente/", views.upload_document, name="upload_document"),
    path("<int:pk>/dokumente/<int:document_pk>/", views.document_download, name="document"),
]
