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
    sub.add_parser("broker", help="run the Apache Kafka broker (KRaft) in the foreground")
    sub.add_parser("relay", help="run Kafka Connect + Debezium, register the connector, keep watch")
    sub.add_parser("jars", help="resolve the Kafka and Debezium jars of jvm/pom.xml from Maven Central")
    reg = sub.add_parser("register-connector", help="register connect/outbox-connector.json and wait for RUNNING")
    reg.add_argument("--url", help="Kafka Connect REST URL (default: from CONNECT_HOST/CONNECT_PORT)")
    reg.add_argument("--timeout", type=float, default=180)
    snap = sub.add_parser("resnapshot", help="publish the whole event store again (stop, reset offsets, resume)")
    snap.add_argument("--url", help="Kafka Connect REST URL (default: from CONNECT_HOST/CONNECT_PORT)")
    sub.add_parser("web", help="migrate, load demo data, serve the API and admin")
    srv = sub.add_parser("web-server", help="only serve the API and admin (docker-compose's web: migrated elsewhere)")
    srv.add_argument("--host", help="default: WEB_HOST")
    srv.add_argument("--port", type=int, help="default: WEB_PORT")
    sub.add_parser("gateway", help="run the payment gateway simulator (own ledger in the data dir)")
    con = sub.add_parser("consumer", help="run one consumer process")
    con.add_argument("name")
    sub.add_parser("run", help="start every process of the pipeline under a supervisor; Ctrl-C stops it")
    sub.add_parser("status", help="each process of a running `make run`: state, pid, uptime, restarts")
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
        if args.command == "jars":
            from . import jvm
            print(jvm.resolve(cfg))
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
        if args.command == "resnapshot":
            from . import connector
            name = connector.load_definition()["name"]
            connector.resnapshot(args.url or cfg.connect_url, name)
            print(f"connector {name}: snapshot taken again, streaming")
            return 0
        if args.command == "web":
            from . import web
            return web.serve(cfg)
        if args.command == "web-server":
            from . import web
            web.exec_server(args.host or cfg.web_host, args.port or cfg.web_port)
        if args.command == "gateway":
            from gateway.__main__ import main as gateway_main
            return gateway_main(["--host", cfg.gateway_host, "--port", str(cfg.gateway_port),
                                 "--ledger", str(cfg.data_dir / "gateway" / "ledger.sqlite3")])
        if args.command == "consumer":
            from consumers.__main__ import main as consumer_main
            return consumer_main([args.name])
        if args.command == "run":
            from . import run
            return run.main(cfg)
        if args.command == "status":
            from . import supervision
            return supervision.print_status(cfg)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
