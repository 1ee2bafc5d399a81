"""The order's event timeline as the admin shows it: readable at 1400 px, causes named and linked."""
from __future__ import annotations

import json
import uuid

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orders_site.eventstore.display import describe
from orders_site.pipeline.display import when

from .history import fetch_timeline

STYLE = ("<style>.timeline{width:100%;table-layout:fixed;border-collapse:collapse}"
         ".timeline td,.timeline th{vertical-align:top;overflow-wrap:anywhere}"
         ".timeline pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:11px}"
         ".timeline col.t{width:10em}.timeline col.a{width:6em}.timeline col.n{width:2.5em}"
         ".timeline col.e{width:11em}.timeline col.c{width:10.5em}.timeline col.l{width:6.5em}</style>")


def payload_lines(data: dict) -> str:
    """One `field: value` line per top-level field (nested values as compact JSON): short lines
    that wrap, instead of an indented document three screens long."""
    return "\n".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                     for k, v in data.items())


def render_timeline(order_id: uuid.UUID) -> SafeString:
    """Every event about the order, oldest first. 'caused by' names the causing event and links to
    its row (or says it came from a person or outside the order); each row links to the order as it
    was right after that event."""
    events = fetch_timeline(order_id)
    by_id = {e.event_id: e for e in events}
    state_at = reverse("admin:orders_order_state_at", args=[order_id])

    def cause(e) -> SafeString:
        if e.causation_id is None:
            return format_html("<i>{}</i>", "a person (checkout, customer or staff)")
        causing = by_id.get(e.causation_id)
        if causing is None:
            return format_html("<code>{}</code> (not in this order's events)", e.causation_id)
        return format_html('<a href="#event-{}">{} #{}</a>', causing.event_id, causing.event_type, causing.sequence)

    rows = []
    for e in events:
        data = describe(e)["data"]
        rows.append((e.event_id, when(e.occurred_at), e.aggregate_type, e.sequence, e.event_type, cause(e),
                     f"{state_at}?at={e.occurred_at.isoformat()}", payload_lines(data)))
    body = format_html_join("", '<tr id="event-{}"><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td>'
                                '<td><a href="{}">order as of this event</a></td><td><pre>{}</pre></td></tr>', rows)
    return format_html(
        '{}<table class="timeline"><colgroup><col class="t"><col class="a"><col class="n"><col class="e">'
        '<col class="c"><col class="l"><col></colgroup><thead><tr><th>occurred at</th><th>aggregate</th><th>#</th>'
        "<th>event</th><th>caused by</th><th></th><th>data (decoded Avro)</th></tr></thead><tbody>{}</tbody></table>"
        "<p>Correlation id of the saga: <code>{}</code></p>",
        SafeString(STYLE), body, events[0].correlation_id if events else "-")
