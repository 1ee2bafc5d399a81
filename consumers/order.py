"""Order service: moves each order through its state machine as the other services report results."""
from __future__ import annotations

from orders_site.orders.saga import RESULT_STATUS, Result, apply_results

from .events import InboundEvent, cause_of, order_of
from .registry import Service

# apply_results takes several results of one order in list order, so the whole batch goes in at once
# and every order of it is locked in one statement.
SERVICE = Service(name="order", topics=["shop.stock.events", "shop.payment.events", "shop.delivery.events"],
                  whole_batch=True)


def reason_of(event: InboundEvent) -> str:
    reason = event.record.get("reason") or ""
    if event.record.get("decline_code"):
        reason = f"{reason} ({event.record['decline_code']})"
    return reason


def on_results(events: list[InboundEvent]) -> None:
    apply_results([Result(order_of(e), e.event_type, reason_of(e), cause_of(e)) for e in events])


for _event_type in RESULT_STATUS:
    SERVICE.handles(_event_type)(on_results)
