"""Command line of the embedded stack: `python -m stack <command>` (see README)."""
from __future__ import annotations

import argparse
import sys

from . import config
from .errors import StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("postgres", help="run the private PostgreSQL cluster in the foreground")
    sub.add_parser("broker", help="run the Tansu broker in the foreground")
    sub.add_parser("relay", help="run Kafka Connect + Debezium, register the connector, keep watch")
    sub.add_parser("classpath", help="assemble the Kafka Connect classpath and exit")
    reg = sub.add_parser("register-connector", help="register connect/outbox-connector.json and wait for RUNNING")
    reg.add_argument("--url", help="Kafka Connect REST URL (default: from CONNECT_HOST/CONNECT_PORT)")
    reg.add_argument("--timeout", type=float, default=180)
    sub.add_parser("web", help="migrate, load demo data, serve the API and admin")
    sub.add_parser("gateway", help="run the payment gateway simulator (own ledger in the data dir)")
    con = sub.add_parser("consumer", help="run one consumer process")
    con.add_argument("name")
    sub.add_parser("run", help="start every process of the pipeline (honcho + Procfile)")
    args = parser.parse_args(argv)
    cfg = config.load()
    try:
        if args.command == "postgres":
            from . import postgres
            return postgres.serve(cfg)
        if args.command == "broker":
            from . import broker
            return broker.serve(cfg)
        if args.command == "relay":
            from . import relay
            return relay.serve(cfg)
        if args.command == "classpath":
            from . import classpath
            print(classpath.assemble(cfg.data_dir / "connect-classpath"))
            return 0
        if args.command == "register-connector":
            from . import connector
            url = args.url or cfg.connect_url
            from .procs import wait_until
            wait_until(lambda: connector.rest_up(url), timeout=args.timeout, what=f"Kafka Connect at {url}", interval=1)
            connector.register(url)
            name = connector.load_definition()["name"]
            connector.wait_running(url, name, timeout=args.timeout)
            print(f"connector {name} RUNNING at {url}")
            return 0
        if args.command == "web":
            from . import web
            return web.serve(cfg)
        if args.command == "gateway":
            from gateway.__main__ import main as gateway_main
            return gateway_main(["--host", cfg.gateway_host, "--port", str(cfg.gateway_port),
                                 "--ledger", str(cfg.data_dir / "gateway" / "ledger.sqlite3")])
        if args.command == "consumer":
            import os

            from consumers.__main__ import main as consumer_main
            # The embedded broker can leave a group unable to form after it restarts; here a consumer
            # moves to a new group (a replay the inbox absorbs) after one fruitless 20 s rebuild.
            # A member that died unannounced delays a join by ~11 s on it (6 s sessions), so 20 s
            # is no false alarm. Production (compose) runs `python -m consumers` without this.
            os.environ.setdefault("CONSUMER_UNASSIGNED_TIMEOUT", "20")
            os.environ.setdefault("CONSUMER_NEW_GROUP_AFTER", "1")
            return consumer_main([args.name])
        if args.command == "run":
            from . import run
            return run.main(cfg)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
