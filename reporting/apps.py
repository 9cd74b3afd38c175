from django.apps import AppConfig


class ReportingConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'reporting'

    def ready(self):
        # Keep the KPI rollup in step with the event log (issue 14): referrals sends, reporting listens.
        from referrals.signals import event_recorded

        from .rollup import on_event_recorded

        event_recorded.connect(on_event_recorded, dispatch_uid="reporting.rollup")
