"""Notifications sent to customers, and re-sending one."""
from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from orders_site.pipeline.admin_base import ReadOnlyAdmin
from orders_site.pipeline.display import when

from .models import Notification
from .resend import resend


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("order_link", "kind", "recipient", "sent", "body")
    list_filter = ("kind", "channel")
    search_fields = ("=order__number", "order__number", "recipient")
    list_select_related = ("order",)
    actions = ["resend_selected"]
    fields = ("order_link", "kind", "channel", "recipient", "body", "sent")
    readonly_fields = fields

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj: Notification) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[obj.order_id]),
                           obj.order.number)

    sent = admin.display(description="sent at", ordering="sent_at")(lambda self, obj: when(obj.sent_at))

    @admin.action(description="Re-send selected notifications")
    def resend_selected(self, request: HttpRequest, queryset) -> None:
        for notification in queryset:
            resend(notification.pk, staff_username=request.user.get_username())
            self.log_change(request, notification, "Re-sent")
        self.message_user(request, f"{queryset.count()} notification(s) re-sent", messages.SUCCESS)
