from django.apps import AppConfig


class Config(AppConfig):
    name = "orders_site.pipeline"
    label = "pipeline"
