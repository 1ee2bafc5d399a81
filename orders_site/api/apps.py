from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "orders_site.api"
    label = "api"
    verbose_name = "Checkout API"
