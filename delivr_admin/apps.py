from django.apps import AppConfig


class DelivrAdminConfig(AppConfig):
    name = "delivr_admin"
    verbose_name = "Delivr Admin (platform)"
