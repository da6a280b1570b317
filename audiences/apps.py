from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "audiences"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audiences import datasets

        datasets.engines_configure()  # which engine reads which dataset root (settings DELIVR_ENGINE*)
