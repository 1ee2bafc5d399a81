"""The one logging set-up of every process (web, consumers, commands): structlog over the stdlib.

Lines written with structlog (`structlog.get_logger().info("event_handled", order_id=...)`) and
lines from the standard `logging` module (Django, librdkafka wrappers) go through the same
renderer: human-readable key=value by default, one JSON object per line with LOG_FORMAT=json.
(Granian's own lines, its start-up and the optional access log, keep Granian's plain format: its
loggers have their own handlers and do not propagate.)
Context bound with `bind_contextvars` (the correlation id of a request or of the event in hand) is
added to every line written meanwhile, so one id follows an order across processes
(docs/operations.md, "Following one order").
"""
from __future__ import annotations

import logging
import logging.config
import os
import sys
from typing import Any

import structlog

JSON = "json"


def wants_json() -> bool:
    return os.environ.get("LOG_FORMAT", "console").strip().lower() == JSON


def _shared_processors(process: str) -> list[Any]:
    def add_process(_logger: object, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        if process:
            event.setdefault("process", process)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_process,
    ]


def dict_config(*, process: str | None = None, json: bool | None = None, level: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary (Django's settings.LOGGING) for the stdlib's lines
    and, as a side effect, structlog configured to render its own lines the same way.

    structlog's lines do not go through the stdlib: its native path costs a fraction of a stdlib
    record per line (docs/benchmarks.md, "Observability"), which matters at one line per event."""
    process = os.environ.get("ORDERS_PROCESS", "") if process is None else process
    json = wants_json() if json is None else json
    level = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    shared = _shared_processors(process)
    renderer = structlog.processors.JSONRenderer() if json else render_line
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        # False: a process that re-configures (a consumer naming itself) must reach every logger.
        cache_logger_on_first_use=False,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "foreign_pre_chain": [_stdlib_logger_name, *shared],
            "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                           structlog.processors.format_exc_info, renderer],
        }},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


def _stdlib_logger_name(_logger: object, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # The same key as structlog's own lines (get_logger below), so one query finds both.
    record = event.get("_record")
    if record is not None:
        event["logger_name"] = record.name
    return event


def render_line(_logger: object, _name: str, event: dict[str, Any]) -> str:
    """`<time> <level> <event> [<logger>] key=value ...`, then a traceback if any. Written here
    because structlog's ConsoleRenderer costs ~6x as much per line (docs/benchmarks.md)."""
    head = (f"{event.pop('timestamp', '')} {event.pop('level', ''):<7} {event.pop('event', '')} "
            f"[{event.pop('logger_name', '')}]")
    trace = event.pop("exception", None)
    line = " ".join([head, *(f"{k}={v}" for k, v in event.items())])
    return f"{line}\n{trace}" if trace else line


def configure(*, process: str | None = None, json: bool | None = None, level: str | None = None) -> None:
    """Set up logging for this process (a consumer, a command); the web app gets it via settings."""
    logging.config.dictConfig(dict_config(process=process, json=json, level=level))


def get_logger(name: str) -> Any:
    """A structlog logger whose lines say where they come from (`logger=<name>`)."""
    return structlog.get_logger(**{"logger_name": name})  # lazy: resolved per call, so a re-configuration reaches it
