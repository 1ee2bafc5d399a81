from django.apps import AppConfig


class ReplayConfig(AppConfig):
    name = "orders_site.replay"
    label = "replay"
    verbose_name = "Replay and retention"
