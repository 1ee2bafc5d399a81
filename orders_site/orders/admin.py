"""The operator's view of orders. Nothing here edits state directly: every action calls a service
(which writes the event naming the staff user) and leaves a line in the order's History. The page
itself is read-only (no Save)."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from orders_site.notifications.models import Notification
from orders_site.payments.models import Payment
from orders_site.payments.timing import settled_after
from orders_site.pipeline.admin_base import ReadOnlyAdmin
from orders_site.pipeline.display import age, money, when
from orders_site.shipping.models import Delivery

from .admin_actions import available_actions, order_action_view
from .cancellation import CannotCancel, cancel_and_refund
from .history import fetch_state_at, parse_moment
from .models import Order, OrderItem
from .status import TERMINAL
from .timeline import render_timeline

IN_PROGRESS = [s for s in Order._meta.get_field("status").choices if s[0] not in {t.value for t in TERMINAL}]


def _read_only_inline(model_: type, fields_: tuple[str, ...]) -> type[admin.TabularInline]:
    class Inline(admin.TabularInline):
        model = model_
        extra = 0
        can_delete = False
        fields = fields_
        readonly_fields = fields_

        def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
            return False

        def has_change_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
            return False
    Inline.__name__ = f"{model_.__name__}Inline"
    return Inline


class ItemInline(_read_only_inline(OrderItem, ("sku", "product_name", "quantity", "unit_price", "line_total"))):
    @admin.display(description="unit price")
    def unit_price(self, obj: OrderItem) -> str:
        return money(obj.unit_price_minor, obj.order.currency)

    @admin.display(description="line total")
    def line_total(self, obj: OrderItem) -> str:
        return money(obj.line_total_minor, obj.order.currency)


class PaymentInline(_read_only_inline(Payment, ("link", "attempt", "status", "amount", "outcome", "created",
                                                "settled"))):
    @admin.display(description="payment")
    def link(self, obj: Payment) -> str:
        return format_html('<a href="{}">open</a>', reverse("admin:payments_payment_change", args=[obj.pk]))

    amount = admin.display(description="amount")(lambda self, obj: money(obj.amount_minor, obj.currency))
    outcome = admin.display(description="outcome")(lambda self, obj: obj.outcome())
    created = admin.display(description="recorded")(lambda self, obj: when(obj.created_at))
    settled = admin.display(description="settled")(lambda self, obj: settled_after(obj))


class DeliveryInline(_read_only_inline(Delivery, ("status", "carrier", "tracking_number", "shipped", "delivered"))):
    shipped = admin.display(description="shipped at")(lambda self, obj: when(obj.shipped_at))
    delivered = admin.display(description="delivered at")(lambda self, obj: when(obj.delivered_at))


class NotificationInline(_read_only_inline(Notification, ("kind", "recipient", "body", "sent"))):
    sent = admin.display(description="sent at")(lambda self, obj: when(obj.sent_at))


class StuckFilter(admin.SimpleListFilter):
    """Orders the saga has not left yet (ORDERED, STOCK_HELD, PAYMENT_COMPLETED) for longer than N."""

    title = "stuck in progress"
    parameter_name = "stuck"
    LIMITS = {"30s": timedelta(seconds=30), "5min": timedelta(minutes=5), "1h": timedelta(hours=1)}

    def lookups(self, request, model_admin):
        return [(k, f"longer than {k}") for k in self.LIMITS]

    def queryset(self, request, queryset):
        limit = self.LIMITS.get(self.value() or "")
        if limit is None:
            return queryset
        return queryset.filter(status__in=[s for s, _ in IN_PROGRESS], updated_at__lte=timezone.now() - limit)


class PaymentStateFilter(admin.SimpleListFilter):
    title = "payment"
    parameter_name = "payment"

    def lookups(self, request, model_admin):
        return [(s, label) for s, label in [("IN_DOUBT", "in doubt"), ("PENDING", "pending"),
                                            ("CAPTURED", "captured"), ("DECLINED", "declined"),
                                            ("REFUNDED", "refunded"), ("none", "no payment")]]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "none":
            return queryset.filter(payments__isnull=True)
        return queryset.filter(payments__status=value).distinct()


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Read-only (no Save, add or delete): orders are placed through checkout, a mistaken one is
    cancelled, not erased; changes are the actions, through the services."""

    list_display = ("number", "customer", "status", "reason", "payment_state", "total", "age", "placed")
    list_filter = ("status", StuckFilter, PaymentStateFilter)
    search_fields = ("=number", "number", "=id", "customer__username", "customer__email")
    list_select_related = ("customer",)
    inlines = [ItemInline, PaymentInline, DeliveryInline, NotificationInline]
    actions = ["cancel_selected"]
    readonly_fields = ("number", "id", "customer", "status", "status_reason", "total", "payment_method",
                       "shipping_note", "version", "placed", "last_change", "state_at_link")
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).prefetch_related("payments")

    total = admin.display(description="total")(lambda self, obj: money(obj.total_minor, obj.currency))
    placed = admin.display(description="placed", ordering="created_at")(lambda self, obj: when(obj.created_at))
    last_change = admin.display(description="last change")(lambda self, obj: when(obj.updated_at))

    @admin.display(description="in this status for", ordering="updated_at")
    def age(self, obj: Order) -> str:
        return age(obj.updated_at)

    @admin.display(description="reason")
    def reason(self, obj: Order) -> str:
        return obj.status_reason[:80] or "-"

    @admin.display(description="payment")
    def payment_state(self, obj: Order) -> str:
        payments = list(obj.payments.all())
        return ", ".join(p.status for p in payments) or "-"

    @admin.display(description="state at a past moment")
    def state_at_link(self, obj: Order) -> str:
        url = reverse("admin:orders_order_state_at", args=[obj.pk])
        return format_html('<a href="{}">Replay this order\'s events up to a chosen time</a>', url)

    @admin.action(description="Cancel and refund selected orders (not shipped yet)")
    def cancel_selected(self, request: HttpRequest, queryset) -> None:
        done = 0
        for order in queryset:
            try:
                cancel_and_refund(order.pk, staff_username=request.user.get_username())
            except CannotCancel as err:
                self.message_user(request, f"{order.number}: not cancelled, {err}", messages.WARNING)
                continue
            order.refresh_from_db()
            self.log_change(request, order, f"Cancel and refund: now {order.status}")
            done += 1
        if done:
            self.message_user(request, f"{done} order(s) cancelled; payments are refunded and stock put back",
                              messages.SUCCESS)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        order = self.get_object(request, object_id)
        extra = {"order_actions": available_actions(order.status) if order else [],
                 # Full width below the fields: at 1400 px the payloads need the room.
                 "timeline": render_timeline(order.pk) if order else "", **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def get_urls(self):
        extra = [path("<uuid:object_id>/state-at/", self.admin_site.admin_view(self.state_at_view),
                      name="orders_order_state_at"),
                 path("<uuid:object_id>/act/<slug:slug>/", self.admin_site.admin_view(
                     lambda request, object_id, slug: order_action_view(self, request, object_id, slug)),
                      name="orders_order_action")]
        return extra + super().get_urls()

    def state_at_view(self, request: HttpRequest, object_id) -> HttpResponse:
        order = get_object_or_404(Order, pk=object_id)
        raw = request.GET.get("at") or ""
        at = parse_moment(raw, assume=timezone.get_current_timezone()) if raw else timezone.now()
        error = None if at else f"not a date-time: {raw!r} (use e.g. 2026-11-25T10:30:00Z)"
        state = fetch_state_at(order.pk, at) if at else None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "order": order,
                   "at": at, "raw": raw, "error": error, "state": state, "last_change": when(state.updated_at) if state else "",
                   "total": money(state.total_minor, state.currency) if state else "",
                   "title": f"{order.number} as of {when(at)}" if at else order.number}
        return TemplateResponse(request, "admin/orders/order/state_at.html", context)
