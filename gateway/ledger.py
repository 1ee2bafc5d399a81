"""The simulator's own books (SQLite, separate from the shop's database), so that money taken can be
compared with orders paid. Charges are unique per idempotency key: a retried charge is not a new one."""
from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE NOT NULL, order_id TEXT NOT NULL, customer_id TEXT,
    amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, method TEXT NOT NULL,
    status TEXT NOT NULL, decline_code TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY, charge_id TEXT UNIQUE NOT NULL REFERENCES charges(id), amount_minor INTEGER NOT NULL,
    reason TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
"""


@dataclass(frozen=True)
class Charge:
    id: str
    idempotency_key: str
    order_id: str
    customer_id: str | None
    amount_minor: int
    currency: str
    method: str
    status: str  # captured | declined
    decline_code: str | None
    refunded_minor: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()  # one writer at a time: the uniqueness checks stay simple

    def _row(self, where: str, arg: str) -> Charge | None:
        row = self._db.execute(
            "SELECT c.id, idempotency_key, order_id, customer_id, c.amount_minor, currency, method, status, "
            f"decline_code, COALESCE(r.amount_minor, 0) FROM charges c LEFT JOIN refunds r ON r.charge_id = c.id "
            f"WHERE {where} = ?", (arg,)).fetchone()
        return Charge(*row) if row else None

    def by_key(self, key: str) -> Charge | None:
        return self._row("idempotency_key", key)

    def by_id(self, charge_id: str) -> Charge | None:
        return self._row("c.id", charge_id)

    def charge(self, key: str, order_id: str, customer_id: str | None, amount: int, currency: str, method: str,
               status: str, decline_code: str | None) -> tuple[Charge, bool]:
        """Record a charge unless the key exists; returns (charge, created)."""
        with self._lock:
            existing = self.by_key(key)
            if existing:
                return existing, False
            charge_id = f"ch_{uuid.uuid4().hex[:20]}"
            self._db.execute("INSERT INTO charges (id, idempotency_key, order_id, customer_id, amount_minor, currency,"
                             " method, status, decline_code) VALUES (?,?,?,?,?,?,?,?,?)",
                             (charge_id, key, order_id, customer_id, amount, currency, method, status, decline_code))
            return self.by_id(charge_id), True

    def refund(self, charge_id: str, reason: str) -> tuple[Charge | None, str]:
        """Full refund of a captured charge, at most once; returns (charge, outcome)."""
        with self._lock:
            charge = self.by_id(charge_id)
            if charge is None:
                return None, "not_found"
            if charge.status != "captured":
                return charge, "not_captured"
            if charge.refunded_minor:
                return charge, "already_refunded"
            self._db.execute("INSERT INTO refunds (id, charge_id, amount_minor, reason) VALUES (?,?,?,?)",
                             (f"re_{uuid.uuid4().hex[:20]}", charge_id, charge.amount_minor, reason))
            return self.by_id(charge_id), "refunded"

    def summary(self) -> dict[str, Any]:
        captured, n_captured = self._db.execute(
            "SELECT COALESCE(SUM(amount_minor), 0), COUNT(*) FROM charges WHERE status = 'captured'").fetchone()
        refunded, n_refunded = self._db.execute(
            "SELECT COALESCE(SUM(amount_minor), 0), COUNT(*) FROM refunds").fetchone()
        per_order = self._db.execute(
            "SELECT order_id, COUNT(*) FROM charges WHERE status = 'captured' GROUP BY order_id").fetchall()
        return {"captured_minor": captured, "captures": n_captured, "refunded_minor": refunded, "refunds": n_refunded,
                "net_minor": captured - refunded, "captures_per_order": {o: n for o, n in per_order}}

    def charges(self) -> list[dict[str, Any]]:
        ids = [r[0] for r in self._db.execute("SELECT id FROM charges ORDER BY created_at, id")]
        return [self.by_id(i).as_json() for i in ids]
