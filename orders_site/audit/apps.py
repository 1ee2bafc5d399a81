from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "orders_site.audit"
    label = "audit"
