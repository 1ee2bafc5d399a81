"""Start, kill and restart the real components of the embedded stack from Python.

Used by the end-to-end tests, the benchmarks and the chaos run, so they exercise exactly the
processes `make run` starts (`python -m stack <component>`), each as its own OS process with its own
log file, on ports chosen to not collide with a running `make run`.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import broker, connector, postgres
from .components import CONSUMER_PROCESSES, PROCESSES
from .config import REPO_ROOT, StackConfig
from .errors import StackError
from .procs import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(count: int) -> int:
    """The first of `count` consecutive free ports (the consumers' metrics ports are base + index).

    Taken below the kernel's ephemeral range: the consumers bind them only after the broker and the
    relay started, and a port from that range may meanwhile become the local end of some outgoing
    connection (seen: a consumer whose metrics port was taken)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    import random

    for _ in range(100):
        base = random.randrange(10000, max(low - count, 10001))
        held = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise StackError(f"no {count} consecutive free ports found")


def on_free_ports(cfg: StackConfig) -> StackConfig:
    """`cfg` with every service but PostgreSQL moved to free ports (a running `make run` is untouched)."""
    from consumers.registry import SERVICE_NAMES as SERVICES

    return replace(cfg, kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                   connect_port=free_port(), web_port=free_port(), gateway_port=free_port(),
                   consumer_metrics_port=free_port_range(len(SERVICES)))


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """The environment every component of `cfg` reads its addresses from."""
    return dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="orders_site.settings",
        ORDERS_DATA_DIR=str(cfg.data_dir),
        ORDERS_DB_HOST=cfg.db_host, ORDERS_DB_PORT=str(cfg.db_port), ORDERS_DB_NAME=cfg.db_name,
        ORDERS_DB_USER=cfg.db_user, ORDERS_DB_PASSWORD=cfg.db_password,
        KAFKA_BOOTSTRAP_SERVERS=cfg.kafka_bootstrap, KAFKA_CONTROLLER_PORT=str(cfg.kafka_controller_port),
        ORDERS_JARS_DIR=str(cfg.jars_dir),
        CONNECT_HOST=cfg.connect_host, CONNECT_PORT=str(cfg.connect_port),
        WEB_HOST=cfg.web_host, WEB_PORT=str(cfg.web_port),
        GATEWAY_HOST=cfg.gateway_host, GATEWAY_PORT=str(cfg.gateway_port),
        GATEWAY_URL=f"http://{cfg.gateway_host}:{cfg.gateway_port}",
        CONSUMER_METRICS_PORT=str(cfg.consumer_metrics_port),
    )


def process_tree(root: int) -> list[int]:
    """PIDs of `root` and everything under it, every thread's children included (a JVM or
    PostgreSQL backends)."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:  # the process or thread ended meanwhile
                pass
    return pids


@dataclass
class Component:
    """One `python -m stack <args>` process, its log file and how to tell it is ready."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        log.flush()
        # Own process group: a kill reaches the launcher and what it started (the relay's worker).
        self.proc = subprocess.Popen([sys.executable, "-m", "stack", *self.args], env=self.env, cwd=REPO_ROOT,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up of any kind, like a power cut."""
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        if not self.running:
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.signal_group(signal.SIGKILL)  # anything the launcher left behind

    def children(self) -> list[int]:
        """PIDs of the process's direct children (e.g. the Java worker under the relay launcher)."""
        if not self.running:
            return []
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def process_tree(self) -> list[int]:
        """PIDs of the launcher and everything under it; [] when it is not running."""
        return process_tree(self.proc.pid) if self.running else []

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class EmbeddedStack:
    cfg: StackConfig
    components: dict[str, Component] = field(default_factory=dict)

    @classmethod
    def create(cls, cfg: StackConfig) -> "EmbeddedStack":
        env = stack_env(cfg)
        logs = cfg.log_dir
        stack = cls(cfg)
        for spec in PROCESSES:
            stack.components[spec.name] = Component(spec.name, list(spec.args), env, logs / f"{spec.name}.log",
                                                    spec.stop_signal)
        return stack

    def __getitem__(self, name: str) -> Component:
        return self.components[name]

    def _await(self, component: Component, predicate, timeout: float, what: str) -> None:
        def ready() -> bool:
            if not component.running:
                raise StackError(f"{component.name} exited during start-up:\n{component.tail()}")
            return predicate()
        try:
            wait_until(ready, timeout=timeout, what=what, interval=0.2)
        except StackError as err:
            raise StackError(f"{err}\n--- {component.name} log ---\n{component.tail()}") from None

    def start_postgres(self) -> None:
        self["postgres"].start()
        # The server, not the application's database: in a running stack the web process creates that.
        self._await(self["postgres"], lambda: postgres.accepts_connections(self.cfg), 90, "PostgreSQL")

    def start_broker(self) -> None:
        self["broker"].start()
        self._await(self["broker"], lambda: broker.reachable(self.cfg), 30, "the broker")

    def start_relay(self) -> None:
        self["relay"].start()
        name = connector.load_definition()["name"]
        self._await(self["relay"], lambda: connector.is_running(self.cfg.connect_url, name), 240,
                    "the relay's connector to be RUNNING")

    def start_web(self) -> None:
        """Start the web app (a no-op when it runs already: several tests may ask for it)."""
        from .procs import port_open
        if self["web"].running:
            return
        self["web"].start()
        self._await(self["web"], lambda: port_open(self.cfg.web_host, self.cfg.web_port), 120, "the web app")

    def start_gateway(self) -> None:
        from .procs import port_open
        self["gateway"].start()
        self._await(self["gateway"], lambda: port_open(self.cfg.gateway_host, self.cfg.gateway_port), 30,
                    "the payment gateway simulator")

    def start_consumers(self, names: list[str] | None = None) -> None:
        for name in names or CONSUMER_PROCESSES:
            self[name].start()

    def stop_all(self, *, keep_postgres: bool = False) -> None:
        """Stop in reverse start order: consumers and the relay close while the broker still
        answers (the other way round, each waits out its timeouts), the database last."""
        for name in reversed(list(self.components)):
            if name != "postgres":
                self[name].stop()
        if not keep_postgres:
            self["postgres"].stop()


@dataclass
class SupervisedRun:
    """`python -m stack run` (what `make run` starts) as a child, its output collected: for tests
    and benchmarks of the supervised stack itself."""

    cfg: StackConfig
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    _reader: object = None

    def start(self) -> None:
        import threading

        self.output.clear()
        self.proc = subprocess.Popen([sys.executable, "-m", "stack", "run"], env=stack_env(self.cfg), cwd=REPO_ROOT,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self._reader = threading.Thread(target=lambda: self.output.extend(line.rstrip() for line in self.proc.stdout),
                                        daemon=True)
        self._reader.start()

    def text(self) -> str:
        return "\n".join(self.output)

    def wait_ready(self, timeout: float = 300) -> float:
        """Seconds the run took to say "ready", by its own clock; StackError if it never did."""
        import re

        wait_until(lambda: "ready in" in self.text() or self.proc.poll() is not None, timeout=timeout,
                   what="the ready block of `python -m stack run`")
        if self.proc.poll() is not None:
            raise StackError(f"`python -m stack run` exited with {self.proc.returncode}:\n{self.text()}")
        return float(re.search(r"ready in ([\d.]+) s", self.text())[1])

    def stop(self, timeout: float = 120) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10)  # every line it printed is in `output`
        return code


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    """Public alias for tests: poll until true or raise naming `what`."""
    wait_until(predicate, timeout=timeout, what=what, interval=interval)


__all__ = ["Component", "EmbeddedStack", "SupervisedRun", "free_port", "on_free_ports", "process_tree",
           "stack_env", "wait_for"]
