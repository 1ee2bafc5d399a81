"""The pipeline dashboard (/admin/pipeline/, staff only) and the dead-letter browser behind it."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from consumers.kafka import dlq_topic
from consumers.registry import SERVICE_NAMES
from orders_site.orders.models import Order
from orders_site.orders.status import TERMINAL
from orders_site.payments.models import Payment

from . import dead_letters
from .checks import fetch_last_check, run_invariant_check
from .display import age, size, when
from .status import PipelineConfig, fetch_pipeline_status

STUCK_AFTER = timedelta(seconds=60)
REFRESH_SECONDS = 10


def _context(request: HttpRequest, title: str) -> dict:
    return {**admin.site.each_context(request), "title": title, "refresh": REFRESH_SECONDS}


def dashboard(request: HttpRequest) -> HttpResponse:
    status = fetch_pipeline_status()
    now = timezone.now()
    in_doubt = [(p, age(p.updated_at, now)) for p in Payment.objects.filter(status__in=["IN_DOUBT", "PENDING"])
                .select_related("order").order_by("updated_at")[:50]]
    stuck = [(o, age(o.updated_at, now)) for o in Order.objects.exclude(status__in=[s.value for s in TERMINAL])
             .filter(updated_at__lte=now - STUCK_AFTER).order_by("updated_at")[:50]]
    last = fetch_last_check()
    context = {**_context(request, "Pipeline"), "status": status, "slot_retained": size(status.slot.retained_wal_bytes),
               "in_doubt": in_doubt, "stuck": stuck, "stuck_after": int(STUCK_AFTER.total_seconds()),
               "last_check": last, "last_check_at": when(last.ran_at) if last else "", "now": when(now)}
    return TemplateResponse(request, "admin/pipeline/dashboard.html", context)


def dead_letter_list(request: HttpRequest, service: str) -> HttpResponse:
    if service not in SERVICE_NAMES:
        raise Http404("no such service")
    cfg = PipelineConfig.from_settings()
    done = dead_letters.redriven(dlq_topic(service))
    try:
        letters, error = [(d, when(d.timestamp), done.get((d.partition, d.offset)))
                          for d in dead_letters.list_dead_letters(cfg, service)], ""
    except dead_letters.BrokerUnavailable as err:
        letters, error = [], str(err)
    context = {**_context(request, f"Dead letters of the {service} service"), "service": service,
               "letters": letters, "error": error, "now": when(timezone.now())}
    return TemplateResponse(request, "admin/pipeline/dead_letters.html", context)


@require_POST
def dead_letter_redrive(request: HttpRequest, service: str) -> HttpResponse:
    if service not in SERVICE_NAMES:
        raise Http404("no such service")
    try:
        partition, offset = int(request.POST["partition"]), int(request.POST["offset"])
        result = dead_letters.redrive(PipelineConfig.from_settings(), service, partition, offset,
                                      requested_by=request.user.get_username())
    except (KeyError, ValueError):
        messages.error(request, "partition and offset are required whole numbers")
    except (dead_letters.NotFound, dead_letters.BrokerUnavailable) as err:
        messages.error(request, str(err))
    else:
        (messages.success if result.sent else messages.warning)(request, f"{partition}@{offset}: {result.outcome}")
    return HttpResponseRedirect(reverse("pipeline-dead-letters", args=[service]))


@require_POST
def invariant_check(request: HttpRequest) -> HttpResponse:
    run = run_invariant_check(requested_by=request.user.get_username())
    (messages.success if run.ok else messages.error)(request, "all invariants hold" if run.ok else
                                                     "an invariant failed: see the report below")
    return HttpResponseRedirect(reverse("pipeline-dashboard"))


def urls() -> list:
    """Mounted before admin.site.urls; admin_view makes every page staff-only (login otherwise)."""
    v = admin.site.admin_view
    return [path("admin/pipeline/", v(dashboard), name="pipeline-dashboard"),
            path("admin/pipeline/check/", v(invariant_check), name="pipeline-check"),
            path("admin/pipeline/dlq/<str:service>/", v(dead_letter_list), name="pipeline-dead-letters"),
            path("admin/pipeline/dlq/<str:service>/redrive/", v(dead_letter_redrive), name="pipeline-redrive")]
