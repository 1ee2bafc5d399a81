"""`python -m consumers <name>`: run one consumer service in this process until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

SERVICES = ("order", "stock", "payment", "delivery", "notification")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers")
    parser.add_argument("name", choices=SERVICES)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_site.settings")
    import django

    django.setup()
    from django.conf import settings

    from . import observability
    from .runtime import Runtime
    from .wait import wait_for_schema

    observability.start(args.name)  # logging set-up, then /metrics, /healthz and /readyz on its port
    wait_for_schema()
    service = importlib.import_module(f"consumers.{args.name}").SERVICE
    Runtime(service, settings.KAFKA_BOOTSTRAP_SERVERS).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
