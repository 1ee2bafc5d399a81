"""Payments as the operator sees them: attempts, their outcome (refunds included), and a retry of a
payment whose outcome is still unknown."""
from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from orders_site.pipeline.admin_base import ReadOnlyAdmin
from orders_site.pipeline.display import age, money, when

from .gateway_client import GatewayClient
from .models import Payment
from .timing import settled_after
from .retry import CannotRetry, retry_payment


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("order_link", "attempt", "status", "amount", "outcome", "method", "recorded", "since")
    list_filter = ("status", "method")
    search_fields = ("=order__number", "order__number", "=idempotency_key", "gateway_transaction_id")
    list_select_related = ("order",)
    actions = ["retry"]
    fields = ("order_link", "attempt", "status", "amount", "outcome", "method", "idempotency_key",
              "gateway_transaction_id", "decline_code", "earlier_trouble", "refund_reason", "correlation_id",
              "cause_event_id", "recorded", "settled_after", "last_change")
    readonly_fields = fields

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj: Payment) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    amount = admin.display(description="amount")(lambda self, obj: money(obj.amount_minor, obj.currency))
    outcome = admin.display(description="outcome")(lambda self, obj: obj.outcome())
    recorded = admin.display(description="recorded", ordering="created_at")(lambda self, obj: when(obj.created_at))
    last_change = admin.display(description="last change")(lambda self, obj: when(obj.updated_at))
    since = admin.display(description="in this status for", ordering="updated_at")(lambda self, obj: age(obj.updated_at))

    @admin.display(description="settled")
    def settled_after(self, obj: Payment) -> str:
        # How long the outcome took, in doubt included: the settling event's time minus the attempt's.
        return settled_after(obj)

    @admin.display(description="failure reason")
    def earlier_trouble(self, obj: Payment) -> str:
        # A payment that was in doubt keeps the timeout's text; once settled it is history, not the outcome.
        if not obj.failure_reason:
            return "-"
        if obj.status in (Payment.Status.IN_DOUBT, Payment.Status.DECLINED):
            return obj.failure_reason
        return f"earlier, before it was settled: {obj.failure_reason}"

    @admin.action(description="Retry now (payments in doubt or pending only)")
    def retry(self, request: HttpRequest, queryset) -> None:
        client = GatewayClient()
        for payment in queryset.select_related("order"):
            try:
                status = retry_payment(payment.pk, client)
            except CannotRetry as err:
                self.message_user(request, f"{payment.order.number}: not retried, {err}", messages.WARNING)
                continue
            self.log_change(request, payment, f"Retry requested: now {status}")
            self.message_user(request, f"{payment.order.number}: retried, payment {status}", messages.SUCCESS)
