"""Request shapes and response bodies of the API. Validation of shape and type lives here; the
business checks (unknown SKU, ...) are place_order's, mapped to the same 400 format by the view."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from orders_site.catalog.models import Product
from orders_site.orders.checkout import MAX_LINES, MAX_QUANTITY, PAYMENT_METHODS
from orders_site.orders.models import Order, OrderItem
from orders_site.shipping.models import Delivery


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: no "2", no 2.0, no true (DRF's IntegerField coerces those)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class CheckoutItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=40)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class CheckoutSerializer(serializers.Serializer):
    items = CheckoutItemSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    payment_method = serializers.ChoiceField(choices=PAYMENT_METHODS)
    shipping_note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({k: ["unknown field"] for k in sorted(unknown)})
        return super().to_internal_value(data)

    def validate_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        errors: list[dict[str, list[str]]] = []
        for item in items:
            errors.append({"sku": [f"duplicate SKU {item['sku']}; merge the quantities"]} if item["sku"] in seen else {})
            seen.add(item["sku"])
        if any(errors):
            raise serializers.ValidationError(errors)
        return items


class ProductSerializer(serializers.ModelSerializer):
    available = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = ["sku", "name", "price_minor", "currency", "available"]

    def get_available(self, product: Product) -> int:
        return product.stock.available


class OrderItemSerializer(serializers.ModelSerializer):
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
        return {"id": str(delivery.id), "status": delivery.status, "created_at": delivery.created_at.isoformat(),
                "carrier": delivery.carrier or None, "tracking_number": delivery.tracking_number or None,
                "shipped_at": delivery.shipped_at.isoformat() if delivery.shipped_at else None,
                "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None}

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
