"""`make run`'s process supervisor: supervisord (from PyPI) with one program per process of
stack/components.py.

Each program restarts when it dies unexpectedly (any exit but a clean one after a stop request),
with supervisord's backoff when it dies again during start-up (1 s, 2 s, 3 s, ...), and a log line
for each exit and start. The others keep running: every process waits for what it depends on and
rides out its restart. Process output goes to `<data>/logs/<process>.log`; supervisord's own log
(exits, starts, restarts) to `<data>/logs/supervisord.log` and the terminal.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import sys
import tempfile
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from .components import PROCESSES
from .config import REPO_ROOT, StackConfig

# Start order only (each process also waits for its dependencies): lower starts first, stops last.
PRIORITY = {"postgres": 10, "broker": 20, "web": 30, "relay": 40, "gateway": 50}
CONSUMER_PRIORITY = 60
START_RETRIES = 1000  # never give up on a process; the backoff grows by a second each failed start


def socket_path(cfg: StackConfig) -> Path:
    """The control socket: in the data directory, unless that path is too long for a Unix socket."""
    path = cfg.run_dir / "supervisor.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(cfg.data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"orders-supervisor-{digest}.sock"


def supervisord_log(cfg: StackConfig) -> Path:
    return cfg.log_dir / "supervisord.log"


def write_config(cfg: StackConfig) -> Path:
    """supervisord.conf for this data directory; rewritten at every start."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    sections = [f"""\
[supervisord]
nodaemon=true
; the launcher (stack/run.py) prints the lines that matter from the log file
silent=true
; whoever starts it (root on these machines); saying so keeps supervisord from warning about it
user={pwd.getpwuid(os.geteuid()).pw_name}
logfile={supervisord_log(cfg)}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={cfg.run_dir / 'supervisord.pid'}
childlogdir={cfg.log_dir}

[unix_http_server]
file={socket_path(cfg)}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{socket_path(cfg)}
"""]
    for spec in PROCESSES:
        sections.append(f"""\
[program:{spec.name}]
command={sys.executable} -m stack {' '.join(spec.args)}
directory={REPO_ROOT}
priority={PRIORITY.get(spec.name, CONSUMER_PRIORITY)}
autorestart=unexpected
exitcodes=0
startsecs=1
startretries={START_RETRIES}
stopsignal={spec.stop_signal.name.removeprefix('SIG')}
stopwaitsecs=30
killasgroup=true
redirect_stderr=true
stdout_logfile={cfg.log_dir / f'{spec.name}.log'}
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=2
""")
    path = cfg.run_dir / "supervisord.conf"
    path.write_text("\n".join(sections))
    return path


def client(cfg: StackConfig) -> xmlrpc.client.ServerProxy:
    """An XML-RPC client of the running supervisord (what supervisorctl uses)."""
    transport = SupervisorTransport(None, None, f"unix://{socket_path(cfg)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def running(cfg: StackConfig) -> bool:
    try:
        return client(cfg).supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


@dataclass(frozen=True)
class ProcessState:
    name: str
    state: str
    pid: int
    uptime_seconds: int
    starts: int

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)


def count_starts(log_text: str) -> dict[str, int]:
    """How often supervisord spawned each program since it last started (from its log)."""
    run = log_text.rsplit("supervisord started with pid", 1)[-1]
    counts: dict[str, int] = {}
    for line in run.splitlines():
        if " spawned: '" in line:
            name = line.split(" spawned: '", 1)[1].split("'", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def states(cfg: StackConfig) -> list[ProcessState]:
    infos = client(cfg).supervisor.getAllProcessInfo()
    log_file = supervisord_log(cfg)
    starts = count_starts(log_file.read_text(errors="replace")) if log_file.exists() else {}
    return [ProcessState(i["name"], i["statename"], i["pid"],
                         int(i["now"] - i["start"]) if i["statename"] == "RUNNING" else 0,
                         starts.get(i["name"], 0))
            for i in infos]


def print_status(cfg: StackConfig) -> int:
    """`python -m stack status` (`make status`): exit 0 when every process runs, 1 otherwise."""
    if not running(cfg):
        print(f"no pipeline is running for {cfg.data_dir} (start it with `make run`)", file=sys.stderr)
        return 1
    rows = states(cfg)
    print(f"{'process':<24}{'state':<10}{'pid':>8}{'uptime':>10}{'restarts':>10}")
    for row in rows:
        print(f"{row.name:<24}{row.state:<10}{row.pid or '-':>8}{_duration(row.uptime_seconds):>10}{row.restarts:>10}")
    return 0 if all(r.state == "RUNNING" for r in rows) else 1


def _duration(seconds: int) -> str:
    if not seconds:
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class LogFollower:
    """The lines supervisord appends to its log from now on: exits, starts, give-ups."""

    NOTEWORTHY = (" exited: ", " spawned: ", " gave up: ", " stopped: ")

    def __init__(self, cfg: StackConfig) -> None:
        self.path = supervisord_log(cfg)
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new_lines(self) -> list[str]:
        """Noteworthy lines since the last call, without their timestamp and level."""
        if not self.path.exists():
            return []
        size = self.path.stat().st_size
        if size < self.offset:  # rotated
            self.offset = 0
        with self.path.open("r", errors="replace") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[:chunk.rfind("\n") + 1]
        self.offset += len(complete.encode())
        return [line.split(" ", 3)[3] if line.count(" ") >= 3 else line
                for line in complete.splitlines() if any(k in line for k in self.NOTEWORTHY)]
