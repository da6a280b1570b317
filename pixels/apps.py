from django.apps import AppConfig


class PixelsConfig(AppConfig):
    name = "pixels"
    default_auto_field = "django.db.models.BigAutoField"
