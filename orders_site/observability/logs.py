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
    # structlog's own writer for that file: its lock keeps the lines of other threads whole.
    _lines.process, _lines.renderer, _lines.out = process, renderer, structlog.WriteLogger(sys.stderr)
    _lines.enabled = logging.getLevelName(level) <= logging.INFO
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


class _LineSettings:
    """What dict_config set up, for info_lines: its lines are rendered as structlog's are."""

    process = ""
    renderer: Any = staticmethod(lambda _logger, _name, event: render_line(_logger, _name, event))
    out: Any = None  # a WriteLogger on sys.stderr as dict_config found it, as structlog's lines
    enabled = True


_lines = _LineSettings()
_stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)


def info_lines(logger_name: str, event: str, lines: list[dict[str, Any]]) -> None:
    """Write `event` at info level once per item of `lines`, exactly as
    `get_logger(logger_name).info(event, **item)` would, but with one timestamp and one write for
    them all. For the consumers' line per handled event: through structlog's processors, the
    renderer and a write each, such a line cost ~30 us of CPU, a seventh of the order consumer's
    time at 100 orders/s (docs/benchmarks.md, "Saga, seventh pass")."""
    if not lines or not _lines.enabled:
        return
    context = structlog.contextvars.get_contextvars()
    timestamp = _stamp(None, "info", {})["timestamp"]
    rendered = []
    for fields in lines:
        # The keys in the order structlog's chain adds them (BoundLogger, then _shared_processors).
        event_dict = {"logger_name": logger_name, **fields, "event": event}
        for key, value in context.items():
            event_dict.setdefault(key, value)
        event_dict["level"] = "info"
        event_dict["timestamp"] = timestamp
        if _lines.process:
            event_dict.setdefault("process", _lines.process)
        rendered.append(_lines.renderer(None, "info", event_dict))
    (_lines.out or structlog.WriteLogger(sys.stderr)).msg("\n".join(rendered))


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
