"""Products and stock; receiving goods goes through catalog/receiving.py (StockReceived)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from orders_site.pipeline.display import money

from .models import Product, Stock
from .receiving import BadReceipt, receive_stock


class StockInline(admin.StackedInline):
    model = Stock
    can_delete = False
    readonly_fields = ("initial", "on_hand", "reserved", "sold")


class ReceiveForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=100_000)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "active", "on_hand", "available")
    search_fields = ("sku", "name")
    list_select_related = ("stock",)
    inlines = [StockInline]
    actions = ["receive"]

    price = admin.display(description="price")(lambda self, obj: money(obj.price_minor, obj.currency))
    on_hand = admin.display(description="on hand")(lambda self, obj: obj.stock.on_hand)

    @admin.display(description="available")
    def available(self, obj: Product) -> int:
        return obj.stock.available

    @admin.action(description="Receive stock for selected products")
    def receive(self, request: HttpRequest, queryset) -> HttpResponse | None:
        form = ReceiveForm(request.POST if "quantity" in request.POST else None)
        if form.is_bound and form.is_valid():
            for product in queryset:
                try:
                    stock = receive_stock(product.sku, form.cleaned_data["quantity"],
                                          staff_username=request.user.get_username())
                except BadReceipt as err:
                    self.message_user(request, str(err), messages.ERROR)
                    return None
                self.log_change(request, product, f"Received {form.cleaned_data['quantity']}: on hand {stock.on_hand}")
            self.message_user(request, f"received {form.cleaned_data['quantity']} of each of {queryset.count()} "
                                       f"product(s)", messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "products": queryset,
                   "form": form, "title": "Receive stock", "action_name": "receive"}
        return TemplateResponse(request, "admin/catalog/product/receive.html", context)
