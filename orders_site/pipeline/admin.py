"""The pipeline in the admin: a link to the pipeline page on the index, and its records read-only."""
from __future__ import annotations

from django.contrib import admin

from .admin_base import ReadOnlyAdmin
from .display import when
from .models import InvariantRun, Redrive

# The index lists models only; the pipeline page is not one, so the index template adds its link.
admin.site.index_template = "admin/pipeline/index.html"


@admin.register(Redrive)
class RedriveAdmin(ReadOnlyAdmin):
    list_display = ("message", "outcome", "requested_by", "at")
    list_filter = ("topic",)
    fields = ("topic", "partition", "offset", "outcome", "requested_by", "at")
    readonly_fields = fields

    message = admin.display(description="dead letter")(lambda self, o: f"{o.topic}[{o.partition}]@{o.offset}")
    at = admin.display(description="re-driven at", ordering="redriven_at")(lambda self, o: when(o.redriven_at))


@admin.register(InvariantRun)
class InvariantRunAdmin(ReadOnlyAdmin):
    list_display = ("at", "ok", "requested_by")
    fields = ("at", "ok", "requested_by", "report")
    readonly_fields = fields

    at = admin.display(description="ran at", ordering="ran_at")(lambda self, o: when(o.ran_at))
