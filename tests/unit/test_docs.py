"""The docs stay true to the code: every environment variable the code reads is in
docs/configuration.md, every metric the code defines is in docs/operations.md, and every document a
comment or doc cites exists in the repository."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("orders_site", "consumers", "stack", "gateway", "bench")
ENV_READ = re.compile(r'(?:environ\.get|environ\.setdefault|getenv|\benv|_env)\(\s*"([A-Z][A-Z0-9_]+)"'
                      r'|environ\["([A-Z][A-Z0-9_]+)"\]')
METRIC = re.compile(r'"(orders_[a-z_]+)"')
DOC_REF = re.compile(r"(?<![\w/.-])((?:docs|schemas|monitoring)/[\w./-]+\.(?:md|yml))")


def code_files() -> list[Path]:
    return [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]


def test_every_environment_variable_read_is_documented() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    read = {m for p in code_files() for pair in ENV_READ.findall(p.read_text()) for m in pair if m}
    missing = sorted(v for v in read if f"`{v}`" not in documented)
    assert missing == [], f"docs/configuration.md does not list {missing}"


def test_every_metric_defined_is_documented() -> None:
    documented = (ROOT / "docs" / "operations.md").read_text()
    sources = [ROOT / "consumers" / "observability.py", *(ROOT / "orders_site" / "observability").glob("*.py")]
    defined = {m for p in sources for m in METRIC.findall(p.read_text())}
    missing = sorted(m for m in defined if f"`{m}`" not in documented and f"`{m}_total`" not in documented)
    assert defined and missing == [], f"docs/operations.md does not list {missing}"


def test_every_cited_document_exists() -> None:
    files = code_files() + list((ROOT / "docs").glob("*.md")) + [ROOT / "README.md", ROOT / "monitoring" / "alerts.yml"]
    missing = sorted({f"{p.relative_to(ROOT)} -> {ref}" for p in files for ref in DOC_REF.findall(p.read_text())
                      if not (ROOT / ref).exists()})
    assert missing == []
