"""A test helper: evaluate the subset of PromQL that monitoring/alerts.yml uses against scraped samples.

Prometheus itself (promtool) is not installable from the package registries this project uses, so
the tests evaluate the rules here. The subset: selectors with =, !=, =~ matchers; `delta` and
`increase` over a range; `sum`, `max`, `min`, `count` with `by (...)`; one comparison with a number.
Anything else raises UnsupportedExpression, so a rule outside the subset fails the test instead of
being skipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Vector = dict[Labels, float]
RULES = Path(__file__).resolve().parents[1] / "monitoring" / "alerts.yml"


class UnsupportedExpression(ValueError):
    pass


@dataclass(frozen=True)
class Scrape:
    at: float  # seconds
    samples: dict[str, Vector]  # metric name -> labels -> value

    @classmethod
    def parse(cls, at: float, *texts: str) -> "Scrape":
        samples: dict[str, Vector] = {}
        for text in texts:
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
        return cls(at, samples)


@dataclass(frozen=True)
class Rule:
    alert: str
    expr: str


def load_rules(path: Path = RULES) -> list[Rule]:
    doc = yaml.safe_load(path.read_text())
    return [Rule(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


TOKEN = re.compile(r'\s*(?:(?P<num>\d+(?:\.\d+)?(?:e\d+)?)(?![\w])|(?P<dur>\d+[smhd])|(?P<str>"[^"]*")|'
                   r'(?P<op>==|!=|>=|<=|=~|[><=(){}\[\],])|(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*))')
DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr.rstrip()):
        m = TOKEN.match(expr, pos)
        if not m:
            raise UnsupportedExpression(f"cannot read {expr[pos:]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class Evaluator:
    def __init__(self, history: list[Scrape]) -> None:
        self.history = sorted(history, key=lambda s: s.at)

    def metric_names(self, expr: str) -> set[str]:
        """The metrics an expression reads (collected while evaluating it)."""
        self.evaluate(expr)
        return set(self.names)

    def evaluate(self, expr: str) -> Vector:
        """The series for which the expression holds (an alert fires for each), like Prometheus."""
        self.tokens, self.pos, self.names = tokenize(expr), 0, set()
        result = self._vector()
        if self.pos < len(self.tokens):
            kind, op = self.tokens[self.pos]
            if op not in (">", "<", ">=", "<=", "==", "!="):
                raise UnsupportedExpression(f"unexpected {op!r}")
            self.pos += 1
            threshold = float(self._take("num"))
            result = {k: v for k, v in result.items() if _compare(v, op, threshold)}
        if self.pos != len(self.tokens):
            raise UnsupportedExpression(f"trailing tokens in {expr!r}")
        return result

    # -- parser -----------------------------------------------------------------------------------
    def _peek(self) -> str:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else ""

    def _take(self, kind: str | None = None, value: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise UnsupportedExpression("unexpected end")
        k, v = self.tokens[self.pos]
        if (kind and k != kind) or (value and v != value):
            raise UnsupportedExpression(f"expected {value or kind}, got {v!r}")
        self.pos += 1
        return v

    def _vector(self) -> Vector:
        word = self._peek()
        if word in ("sum", "max", "min", "count"):
            self._take()
            by: list[str] = []
            if self._peek() == "by":
                self._take()
                by = self._names()
            self._take(value="(")
            inner = self._vector()
            self._take(value=")")
            return _aggregate(word, by, inner)
        if word in ("delta", "increase"):
            self._take()
            self._take(value="(")
            name, matchers = self._selector()
            self._take(value="[")
            dur = self._take("dur")
            self._take(value="]")
            self._take(value=")")
            return self._range(word, name, matchers, int(dur[:-1]) * DURATION[dur[-1]])
        name, matchers = self._selector()
        latest = self.history[-1].samples.get(name, {})
        return {k: v for k, v in latest.items() if _matches(k, matchers)}

    def _names(self) -> list[str]:
        self._take(value="(")
        names = [self._take("name")]
        while self._peek() == ",":
            self._take()
            names.append(self._take("name"))
        self._take(value=")")
        return names

    def _selector(self) -> tuple[str, list[tuple[str, str, str]]]:
        name = self._take("name")
        self.names.add(name)
        matchers = []
        if self._peek() == "{":
            self._take()
            while self._peek() != "}":
                label = self._take("name")
                op = self._take("op")
                matchers.append((label, op, self._take("str")[1:-1]))
                if self._peek() == ",":
                    self._take()
            self._take(value="}")
        return name, matchers

    def _range(self, fn: str, name: str, matchers: list[tuple[str, str, str]], window: float) -> Vector:
        now = self.history[-1].at
        points: dict[Labels, list[float]] = {}
        for scrape in self.history:
            if scrape.at >= now - window:
                for k, v in scrape.samples.get(name, {}).items():
                    if _matches(k, matchers):
                        points.setdefault(k, []).append(v)
        out = {}
        for k, values in points.items():
            if len(values) < 2:
                continue  # like Prometheus: a range function needs two points
            if fn == "delta":
                out[k] = values[-1] - values[0]
            else:  # increase: a counter reset (restart) starts again from zero
                out[k] = sum(b - a if b >= a else b for a, b in zip(values, values[1:]))
        return out


def _matches(labels: Labels, matchers: Iterable[tuple[str, str, str]]) -> bool:
    have = dict(labels)
    for label, op, value in matchers:
        actual = have.get(label, "")
        if op == "=" and actual != value or op == "!=" and actual == value:
            return False
        if op == "=~" and not re.fullmatch(value, actual):
            return False
    return True


def _aggregate(fn: str, by: list[str], inner: Vector) -> Vector:
    groups: dict[Labels, list[float]] = {}
    for labels, value in inner.items():
        key = tuple((k, v) for k, v in labels if k in by)
        groups.setdefault(key, []).append(value)
    reduce = {"sum": sum, "max": max, "min": min, "count": len}[fn]
    return {k: float(reduce(v)) for k, v in groups.items()}


def _compare(value: float, op: str, threshold: float) -> bool:
    return {">": value > threshold, "<": value < threshold, ">=": value >= threshold, "<=": value <= threshold,
            "==": value == threshold, "!=": value != threshold}[op]
