"""Response bodies of the API (the checkout's request body is checked in checkout_input.py)."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from orders_site.catalog.models import Product
from orders_site.orders.models import Order, OrderItem
from orders_site.shipping.models import Delivery


class ProductSerializer(serializers.ModelSerializer):
    available = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["sku", "name", "price_minor", "currency", "available"]

    def get_available(self, product: Product) -> int:
        return product.stock.available


class OrderItemSerializer(serializers.ModelSerializer):
    line_total_minor = serializers.IntegerField(read_only=True)

    class Meta:
        model = OrderItem
        fields = ["sku", "product_name", "quantity", "unit_price_minor", "line_total_minor"]


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "number", "status", "status_reason", "total_minor", "currency", "payment_method",
                  "shipping_note", "items", "created_at", "updated_at"]


class EventSerializer(serializers.Serializer):
    """An event of the order's history: envelope and decoded Avro payload."""

    event_id = serializers.UUIDField()
    aggregate_type = serializers.CharField()
    sequence = serializers.IntegerField()
    event_type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    correlation_id = serializers.UUIDField()
    causation_id = serializers.UUIDField(allow_null=True)
    schema_fingerprint = serializers.CharField()
    data = serializers.DictField()


class OrderDetailSerializer(OrderSerializer):
    payment = serializers.SerializerMethodField()
    delivery = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = OrderSerializer.Meta.fields + ["payment", "delivery", "events"]

    def get_payment(self, order: Order) -> dict[str, Any] | None:
        """The latest payment attempt (null until the payment service has tried)."""
        payment = order.payments.order_by("-attempt").first()
        if payment is None:
            return None
        return {"attempt": payment.attempt, "status": payment.status, "method": payment.method,
                "amount_minor": payment.amount_minor, "currency": payment.currency,
                "gateway_transaction_id": payment.gateway_transaction_id or None,
                "decline_code": payment.decline_code or None}

    def get_delivery(self, order: Order) -> dict[str, Any] | None:
        delivery = Delivery.objects.filter(order=order).first()
        if delivery is None:
            return None
        return {"id": str(delivery.id), "status": delivery.status, "created_at": delivery.created_at.isoformat()}

    def get_events(self, order: Order) -> list[dict[str, Any]]:
        return self.context["events"]


class OrderStateSerializer(serializers.Serializer):
    """An order's state replayed from its events up to a moment."""

    order_id = serializers.UUIDField()
    number = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    total_minor = serializers.IntegerField()
    currency = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    items = serializers.ListField(child=serializers.DictField())
