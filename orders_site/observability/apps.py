from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "orders_site.observability"
    label = "observability"
    verbose_name = "Observability"
