from django.contrib import admin

from .models import Product, Stock


class StockInline(admin.StackedInline):
    model = Stock
    can_delete = False
    readonly_fields = ("initial", "on_hand", "reserved", "sold")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price_minor", "currency", "active", "available")
    search_fields = ("sku", "name")
    inlines = [StockInline]

    @admin.display(description="available")
    def available(self, obj: Product) -> int:
        return obj.stock.available
