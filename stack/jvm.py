"""The JVM side of the stack: Java itself, and the jars of jvm/pom.xml resolved from Maven Central.

The broker and the Kafka Connect worker share one classpath (Kafka and Connect are one version, the
one Debezium is built against). Resolution runs Maven into a temporary directory and renames it into
place only when complete, so an interrupted or failed run leaves nothing that breaks the next start;
a stamp holding the manifest's hash makes a changed pom.xml resolve again.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from .config import REPO_ROOT, StackConfig
from .errors import StackError
from .procs import log

MANIFEST = REPO_ROOT / "jvm" / "pom.xml"
STAMP = ".resolved-from"
MIN_JAVA = 17
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pinned_versions(manifest: Path = MANIFEST) -> dict[str, str]:
    """The manifest's version properties (kafka.version, debezium.version, ...)."""
    props = ET.parse(manifest).getroot().find("m:properties", _POM_NS)
    return {child.tag.split("}")[1]: (child.text or "").strip() for child in props}


def check_java() -> str:
    """The `java` to run, or StackError naming the fix."""
    java = shutil.which("java")
    if java is None:
        raise StackError(f"Java is missing: the broker and the relay need Java {MIN_JAVA}+. "
                         "Install Debian's openjdk-17-jre-headless (`make setup` does this as root).")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < MIN_JAVA:
        found = out.splitlines()[0] if out else "unknown"
        raise StackError(f"the broker and the relay need Java {MIN_JAVA}+, found: {found}. "
                         "Install Debian's openjdk-17-jre-headless.")
    return java


def _manifest_hash() -> str:
    return hashlib.sha256(MANIFEST.read_bytes()).hexdigest()


def resolved(jars_dir: Path) -> bool:
    stamp = jars_dir / STAMP
    return stamp.exists() and stamp.read_text().strip() == _manifest_hash()


def resolve(cfg: StackConfig) -> Path:
    """The directory holding every jar of the manifest, resolving it with Maven when needed."""
    dest = cfg.jars_dir
    if resolved(dest):
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven is missing: it resolves the Kafka and Debezium jars from Maven Central. "
                         "Install Debian's maven package (`make setup` does this as root).")
    log("setup", f"resolving Kafka {pinned_versions()['kafka.version']} and Debezium "
        f"{pinned_versions()['debezium.version']} from Maven Central into {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".jars-", dir=dest.parent))
    try:
        result = subprocess.run(
            [mvn, "-B", "-q", "-f", str(MANIFEST), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
            capture_output=True, text=True, env=dict(os.environ, MAVEN_OPTS=os.environ.get("MAVEN_OPTS", "-Xmx512m")))
        if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise StackError("Maven could not resolve jvm/pom.xml from Maven Central (network, or a "
                             f"version no longer served?). Nothing was kept; fix and start again.\n{tail}")
        (staging / STAMP).write_text(_manifest_hash())
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log("setup", f"{sum(1 for _ in dest.glob('*.jar'))} jars in {dest}")
    return dest


def java_argv(cfg: StackConfig, *, heap: str, log4j: Path, main: str, args: list[str]) -> list[str]:
    """How to start `main` on the manifest's classpath with a fixed, modest heap."""
    return [check_java(), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", f"{resolve(cfg)}/*", main, *args]


def log4j_config(path: Path, *, log_file: Path, component: str, quiet: dict[str, str] | None = None) -> Path:
    """A Log4j 2 configuration: everything to `log_file`, warnings and worse also to the console."""
    lines = [
        "status = warn",
        "appender.file.type = File", "appender.file.name = file", f"appender.file.fileName = {log_file}",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = %d{ISO8601} %-5p %c{1} - %m%n",
        "appender.console.type = Console", "appender.console.name = console",
        "appender.console.layout.type = PatternLayout",
        f"appender.console.layout.pattern = [{component}] %-5p %c{{1}} - %m%n",
        "appender.console.filter.threshold.type = ThresholdFilter",
        "appender.console.filter.threshold.level = warn",
        "rootLogger.level = info",
        "rootLogger.appenderRef.file.ref = file", "rootLogger.appenderRef.console.ref = console",
    ]
    for n, (logger, level) in enumerate((quiet or {}).items()):
        lines += [f"logger.q{n}.name = {logger}", f"logger.q{n}.level = {level}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
