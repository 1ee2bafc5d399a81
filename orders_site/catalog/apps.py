from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "orders_site.catalog"
    label = "catalog"
