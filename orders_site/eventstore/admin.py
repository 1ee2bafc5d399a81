"""The event store, read-only: every event with its decoded payload."""
from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from orders_site.pipeline.admin_base import ReadOnlyAdmin
from orders_site.pipeline.display import when

from .display import decoded_payload
from .models import StoredEvent


@admin.register(StoredEvent)
class StoredEventAdmin(ReadOnlyAdmin):
    list_display = ("position", "occurred", "aggregate_type", "aggregate_id", "sequence", "event_type")
    list_filter = ("aggregate_type", "event_type")
    search_fields = ("=aggregate_id", "=event_id", "=correlation_id", "=causation_id")
    show_full_result_count = False  # a COUNT(*) over the whole store per page is not worth it
    fields = ("position", "event_id", "occurred", "aggregate_type", "aggregate_id", "sequence", "event_type",
              "schema_fingerprint", "correlation_id", "causation_id", "data")
    readonly_fields = fields

    occurred = admin.display(description="occurred at", ordering="occurred_at")(lambda self, obj: when(obj.occurred_at))

    @admin.display(description="data (decoded Avro)")
    def data(self, obj: StoredEvent) -> str:
        return format_html('<pre style="white-space:pre-wrap">{}</pre>',
                           json.dumps(decoded_payload(obj), indent=1, ensure_ascii=False))
