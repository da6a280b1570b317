from django.apps import AppConfig


class DelivrAdminConfig(AppConfig):
    name = "delivr_admin"
    verbose_name = "Delivr Admin (platform)"

    def ready(self) -> None:
        from delivr_admin.localstate import local_state_ensure

        local_state_ensure()
        # Metrics: Celery task signals connect on import; engine operations report their time.
        from audiences.engine import observe_timings
        from delivr_admin import metrics

        observe_timings(metrics.observe_engine)
