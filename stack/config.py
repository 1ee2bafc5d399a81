"""Addresses, ports and paths of the embedded stack, read from the environment with local defaults.

Every process of the stack (and the tests) reads the same variables, so one `export` moves a port
everywhere. Defaults avoid the well-known ports of services a developer may already run
(a system PostgreSQL on 5432 is common), except Kafka's and Kafka Connect's customary ports.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    kafka_bootstrap: str
    kafka_controller_port: int
    jars_dir: Path
    connect_host: str
    connect_port: int
    web_host: str
    web_port: int
    gateway_host: str
    gateway_port: int
    # Consumer i of consumers/registry.py's SERVICE_NAMES serves /metrics, /healthz and /readyz on
    # this port + i (consumers/observability.py); 0 turns those servers off.
    consumer_metrics_port: int = 9191

    def consumer_port(self, service: str) -> int:
        from consumers.observability import port_for

        return port_for(service, {"CONSUMER_METRICS_PORT": str(self.consumer_metrics_port)})

    @property
    def pg_data(self) -> Path:
        return self.data_dir / "pg"

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def connect_dir(self) -> Path:
        return self.data_dir / "connect"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def connect_url(self) -> str:
        return f"http://{self.connect_host}:{self.connect_port}"

    @property
    def db_dsn(self) -> str:
        dsn = f"host={self.db_host} port={self.db_port} dbname={self.db_name} user={self.db_user}"
        return dsn + (f" password={self.db_password}" if self.db_password else "")

    def db_dsn_for(self, dbname: str) -> str:
        return self.db_dsn.replace(f"dbname={self.db_name}", f"dbname={dbname}")


def load() -> StackConfig:
    """Read the stack's configuration from the environment (docs/configuration.md)."""
    return StackConfig(
        data_dir=Path(_env("ORDERS_DATA_DIR", str(REPO_ROOT / ".data"))).resolve(),
        db_host=_env("ORDERS_DB_HOST", "127.0.0.1"),
        db_port=int(_env("ORDERS_DB_PORT", "55432")),
        db_name=_env("ORDERS_DB_NAME", "orders"),
        db_user=_env("ORDERS_DB_USER", "postgres"),
        db_password=os.environ.get("ORDERS_DB_PASSWORD", ""),
        kafka_bootstrap=_env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        kafka_controller_port=int(_env("KAFKA_CONTROLLER_PORT", "9093")),
        # Shared by every data directory (tests and benchmarks make their own): resolved once.
        jars_dir=Path(_env("ORDERS_JARS_DIR", str(REPO_ROOT / ".data" / "jars"))).resolve(),
        connect_host=_env("CONNECT_HOST", "127.0.0.1"),
        connect_port=int(_env("CONNECT_PORT", "8083")),
        web_host=_env("WEB_HOST", "127.0.0.1"),
        web_port=int(_env("WEB_PORT", "8000")),
        gateway_host=_env("GATEWAY_HOST", "127.0.0.1"),
        gateway_port=int(_env("GATEWAY_PORT", "8090")),
        consumer_metrics_port=int(_env("CONSUMER_METRICS_PORT", "9191")),
    )
