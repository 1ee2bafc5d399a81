"""`python -m consumers <name>`: run one consumer service in this process until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import os
import sys

from .registry import SERVICE_NAMES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers")
    parser.add_argument("name", choices=SERVICE_NAMES)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")
    import django

    django.setup()
    from django.conf import settings

    from . import observability
    from .config import RuntimeConfig
    from .kafka import ensure_topics, new_consumer, new_producer
    from .registry import load
    from .runtime import Runtime
    from .wait import wait_for_schema

    observability.start(args.name)  # logging set-up, then /metrics, /healthz and /readyz on its port
    wait_for_schema()
    service = load(args.name)
    cfg = RuntimeConfig.from_env(settings.KAFKA_BOOTSTRAP_SERVERS)
    ensure_topics(cfg, service.topics)
    consumer = new_consumer(cfg, service.name, extra=observability.kafka_settings())
    Runtime(service, cfg, consumer, new_producer(cfg), observer=observability.ConsumerObserver(service.name)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
