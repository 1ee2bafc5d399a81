from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders_site.orders"
    label = "orders"
