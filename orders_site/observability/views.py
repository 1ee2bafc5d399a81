"""`/metrics`, `/healthz` and `/readyz` of the web app (no authentication: bind them to a private
network or put them behind the proxy's access rules; they reveal counts, never order data)."""
from __future__ import annotations

import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from . import health
from .business import BusinessCollector
from .pipeline_metrics import PipelineCollector


def _process_metrics() -> bytes:
    """This web app's own metrics: every web worker process's when they share a multiprocess directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(BusinessCollector())
    if getattr(settings, "METRICS_PIPELINE", True):
        scraped.register(PipelineCollector())
    return HttpResponse(_process_metrics() + generate_latest(scraped), content_type=CONTENT_TYPE_LATEST)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. Says nothing of its dependencies (that is /readyz)."""
    return JsonResponse({"status": "alive"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    code, body = health.run_checks([
        health.check_database,
        lambda: health.check_broker(settings.KAFKA_BOOTSTRAP_SERVERS),
        lambda: health.check_connector(settings.KAFKA_CONNECT_URL),
    ])
    return JsonResponse(body, status=code)
