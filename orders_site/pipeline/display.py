"""How the operator's pages show things, decided once: one timestamp format, money, ages."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import formats, timezone


def when(moment: datetime | None) -> str:
    """Every timestamp staff read, in the one format Django's own pages use too (orders_site/formats)."""
    if moment is None:
        return "-"
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def money(minor: int, currency: str) -> str:
    """Amounts are stored in minor units; shown once, as 1,234.50 USD."""
    return f"{minor / 100:,.2f} {currency}"


def age(since: datetime, now: datetime | None = None) -> str:
    """A short human duration: 42 s, 7 min, 3 h 5 min, 2 d 4 h."""
    seconds = int(((now or timezone.now()) - since) / timedelta(seconds=1))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h {minutes % 60} min" if hours < 48 else f"{hours // 24} d {hours % 24} h"


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)
