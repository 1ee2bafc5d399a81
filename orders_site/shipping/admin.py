"""Deliveries: where each parcel is. Shipping and delivering are actions on the order page."""
from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from orders_site.pipeline.admin_base import ReadOnlyAdmin
from orders_site.pipeline.display import when

from .models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("order_link", "status", "carrier", "tracking_number", "prepared", "shipped", "delivered")
    list_filter = ("status", "carrier")
    search_fields = ("=order__number", "order__number", "tracking_number")
    list_select_related = ("order",)
    fields = ("order_link", "status", "carrier", "tracking_number", "prepared", "shipped", "delivered")
    readonly_fields = fields

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj: Delivery) -> str:
        return format_html('<a href="{}">{}</a> (ship or deliver from the order)',
                           reverse("admin:orders_order_change", args=[obj.order_id]), obj.order.number)

    prepared = admin.display(description="prepared at", ordering="created_at")(lambda self, obj: when(obj.created_at))
    shipped = admin.display(description="shipped at")(lambda self, obj: when(obj.shipped_at))
    delivered = admin.display(description="delivered at")(lambda self, obj: when(obj.delivered_at))
