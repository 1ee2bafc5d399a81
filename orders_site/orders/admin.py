"""Staff look-up of orders. Nothing here edits state directly: the cancel action calls the same
service function as any other caller, and every field is read-only."""
from __future__ import annotations

import json

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils import timezone

from orders_site.eventstore.display import describe
from orders_site.notifications.models import Notification
from orders_site.payments.models import Payment
from orders_site.shipping.models import Delivery

from .history import fetch_state_at, fetch_timeline, parse_moment
from .models import Order, OrderItem
from .status import InvalidTransition
from .transitions import cancel_order


def _read_only_inline(model_: type, fields_: tuple[str, ...]) -> type[admin.TabularInline]:
    class Inline(admin.TabularInline):
        model = model_
        extra = 0
        can_delete = False
        fields = fields_
        readonly_fields = fields_

        def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
            return False
    Inline.__name__ = f"{model_.__name__}Inline"
    return Inline


OrderItemInline = _read_only_inline(OrderItem, ("sku", "product_name", "quantity", "unit_price_minor",
                                                "line_total_minor"))
PaymentInline = _read_only_inline(Payment, ("attempt", "status", "method", "amount_minor", "currency",
                                            "gateway_transaction_id", "decline_code", "failure_reason",
                                            "idempotency_key", "created_at", "updated_at"))
DeliveryInline = _read_only_inline(Delivery, ("id", "status", "created_at"))
NotificationInline = _read_only_inline(Notification, ("kind", "channel", "recipient", "sent_at"))


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "status", "total", "created_at", "updated_at")
    list_filter = ("status", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("number", "=id", "customer__username", "customer__email")
    list_select_related = ("customer",)
    inlines = [OrderItemInline, PaymentInline, DeliveryInline, NotificationInline]
    actions = ["cancel_selected"]
    readonly_fields = ("id", "number", "customer", "status", "status_reason", "total", "payment_method",
                       "shipping_note", "version", "created_at", "updated_at", "state_at_link", "event_timeline")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are placed through checkout, never typed in

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False  # history is the product; a mistaken order is cancelled, not erased

    @admin.display(description="total")
    def total(self, obj: Order) -> str:
        return f"{obj.total_minor / 100:,.2f} {obj.currency}"

    @admin.display(description="state at a past moment")
    def state_at_link(self, obj: Order) -> str:
        url = reverse("admin:orders_order_state_at", args=[obj.pk])
        return format_html('<a href="{}">Replay this order\'s events up to a chosen time</a>', url)

    @admin.display(description="event timeline")
    def event_timeline(self, obj: Order) -> str:
        rows = [describe(e) for e in fetch_timeline(obj.pk)]
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td><code>{}</code></td>"
                "<td><code>{}</code></td><td><pre style='margin:0'>{}</pre></td></tr>",
            ((r["occurred_at"], r["aggregate_type"], r["sequence"], r["event_type"], r["correlation_id"],
              r["causation_id"] or "-", json.dumps(r["data"], indent=1, ensure_ascii=False)) for r in rows))
        return format_html(
            "<table><thead><tr><th>occurred at</th><th>aggregate</th><th>#</th><th>event</th>"
            "<th>correlation id</th><th>caused by</th><th>data (decoded Avro)</th></tr></thead>"
            "<tbody>{}</tbody></table>", body)

    @admin.action(description="Cancel selected orders (only those not paid yet)")
    def cancel_selected(self, request: HttpRequest, queryset) -> None:
        done = 0
        for order in queryset:
            try:
                cancel_order(order.pk, reason="cancelled in admin", requested_by=request.user.get_username())
                done += 1
            except InvalidTransition as err:
                self.message_user(request, f"{order.number}: {err}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} order(s) cancelled", messages.SUCCESS)

    def get_urls(self):
        extra = [path("<uuid:object_id>/state-at/", self.admin_site.admin_view(self.state_at_view),
                      name="orders_order_state_at")]
        return extra + super().get_urls()

    def state_at_view(self, request: HttpRequest, object_id) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        raw = request.GET.get("at") or ""
        at = parse_moment(raw, assume=timezone.get_current_timezone()) if raw else timezone.now()
        error = None if at else f"not a date-time: {raw!r} (use e.g. 2026-11-25T10:30:00Z)"
        state = fetch_state_at(order.pk, at) if at else None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "order": order,
                   "at": at, "raw": raw, "error": error, "state": state,
                   "title": f"{order.number} as of {at:%Y-%m-%d %H:%M:%S %Z}" if at else order.number}
        return TemplateResponse(request, "admin/orders/order/state_at.html", context)
