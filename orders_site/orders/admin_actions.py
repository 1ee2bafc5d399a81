"""The operator's actions on one order, as admin pages: a confirmation (with a small form where the
action needs input), then the service call. The service writes the event naming the staff user; the
admin's History gets a line too. A refusal says why and changes nothing."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from orders_site.shipping.tracking import BadShipment, mark_delivered, ship

from .cancellation import CannotCancel, cancel_and_refund
from .models import Order
from .status import InvalidTransition, OrderStatus, TRANSITIONS


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=60)
    tracking_number = forms.CharField(max_length=80)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False, help_text="kept in the order's history")


@dataclass(frozen=True)
class OrderAction:
    slug: str
    label: str
    target: OrderStatus  # offered only when the state machine allows it
    form: type[forms.Form]
    run: Callable[[uuid.UUID, dict, str], object]
    done: str


ACTIONS = {a.slug: a for a in (
    OrderAction("cancel-and-refund", "Cancel and refund", OrderStatus.CANCELLED, ReasonForm,
                lambda oid, data, who: cancel_and_refund(oid, staff_username=who, reason=data.get("reason", "")),
                "cancelled; a captured payment is refunded and the stock put back by the services"),
    OrderAction("ship", "Mark shipped", OrderStatus.SHIPPED, ShipForm,
                lambda oid, data, who: ship(oid, carrier=data["carrier"], tracking_number=data["tracking_number"],
                                            staff_username=who), "marked shipped; the customer is notified"),
    OrderAction("deliver", "Mark delivered", OrderStatus.DELIVERED, forms.Form,
                lambda oid, data, who: mark_delivered(oid, staff_username=who),
                "marked delivered; the customer is notified"),
)}


def available_actions(status: str) -> list[OrderAction]:
    return [a for a in ACTIONS.values() if a.target in TRANSITIONS[OrderStatus(status)]]


def order_action_view(model_admin: ModelAdmin, request: HttpRequest, object_id: uuid.UUID, slug: str) -> HttpResponse:
    action = ACTIONS.get(slug)
    if action is None:
        raise Http404("no such action")
    order = get_object_or_404(Order, pk=object_id)
    change_url = reverse("admin:orders_order_change", args=[order.pk])
    form = action.form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            action.run(order.pk, form.cleaned_data, request.user.get_username())
        except (CannotCancel, InvalidTransition, BadShipment) as err:
            model_admin.message_user(request, f"{order.number}: not done, {err}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        order.refresh_from_db()
        detail = ", ".join(f"{k}={v}" for k, v in form.cleaned_data.items() if v)
        model_admin.log_change(request, order, f"{action.label}" + (f" ({detail})" if detail else "")
                               + f": now {order.status}")
        model_admin.message_user(request, f"{order.number} {action.done}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "order": order,
               "action": action, "form": form, "change_url": change_url,
               "title": f"{action.label}: {order.number}"}
    return TemplateResponse(request, "admin/orders/order/action.html", context)
