"""A private PostgreSQL cluster with logical WAL, run as an unprivileged user when started by root."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from .config import StackConfig
from .errors import StackError
from .procs import is_root, log, spawn, wait_until

PG_USER = "postgres"  # OS user that owns the cluster when we run as root

# Settings the pipeline depends on. wal_level=logical is what Debezium needs; the slot cap keeps a
# stopped relay from filling the disk (FAILURE-MODES 1) at the price of a re-snapshot.
SERVER_SETTINGS = {
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "max_slot_wal_keep_size": "4GB",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "unix_socket_directories": "",
    "listen_addresses": "127.0.0.1",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


def bin_dir() -> Path:
    """Locate the server binaries (Debian keeps them off PATH, per major version)."""
    override = os.environ.get("ORDERS_PG_BINDIR")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise StackError("PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin). "
                     "Install Debian's postgresql-15 package (`make setup` does this as root) "
                     "or set ORDERS_PG_BINDIR.")


def _run_user() -> str | None:
    return PG_USER if is_root() else None


def _chown_for_server(path: Path) -> None:
    if is_root():
        entry = pwd.getpwnam(PG_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init_cluster(data: Path) -> bool:
    """Create the cluster in `data` unless it exists; returns True when it was created."""
    if (data / "PG_VERSION").exists():
        return False
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    _chown_for_server(data)
    log("postgres", f"initialising a new cluster in {data}")
    result = subprocess.run(
        [str(bin_dir() / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--no-locale", "--no-instructions"],
        user=_run_user(), capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        hint = (f" Is every directory above {data} searchable by the '{PG_USER}' user?"
                if is_root() else "")
        raise StackError(f"initdb failed: {result.stderr.strip()}{hint}")
    return True


def server_argv(cfg: StackConfig) -> list[str]:
    argv = [str(bin_dir() / "postgres"), "-D", str(cfg.pg_data), "-p", str(cfg.db_port)]
    settings = dict(SERVER_SETTINGS, listen_addresses=cfg.db_host)
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def start(cfg: StackConfig, log_file=None) -> subprocess.Popen:
    """Initialise if needed and start the server as a child process (not waiting for readiness)."""
    init_cluster(cfg.pg_data)
    # A postmaster.pid left by a SIGKILLed server is handled by postgres itself (it checks the pid).
    return spawn(server_argv(cfg), user=_run_user(), stdout=log_file, stderr=log_file)


def _can_connect(cfg: StackConfig, dbname: str = "postgres") -> bool:
    try:
        with psycopg.connect(cfg.db_dsn_for(dbname), connect_timeout=1):
            return True
    except psycopg.OperationalError:
        return False


def wait_ready(cfg: StackConfig, timeout: float = 60, *, database: str = "postgres") -> None:
    """Wait until the server accepts connections to `database` (the app's once it is created)."""
    wait_until(lambda: _can_connect(cfg, database), timeout=timeout,
               what=f"PostgreSQL on {cfg.db_host}:{cfg.db_port}, database {database}")


def ensure_database(cfg: StackConfig) -> None:
    """Create the application database if it does not exist yet."""
    with psycopg.connect(cfg.db_dsn_for("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cfg.db_name,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{cfg.db_name}"')
                log("postgres", f"created database {cfg.db_name}")
            except psycopg.errors.DuplicateDatabase:
                pass  # another process of the stack got there first


def check_logical_wal(cfg: StackConfig) -> None:
    """Fail fast, naming the fix, when the server cannot feed Debezium."""
    with psycopg.connect(cfg.db_dsn, connect_timeout=5) as conn:
        level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        raise StackError(f"PostgreSQL at {cfg.db_host}:{cfg.db_port} has wal_level={level}; Debezium "
                         "needs wal_level=logical (set it in postgresql.conf and restart the server).")


def serve(cfg: StackConfig) -> int:
    """Foreground entry point: run the server until SIGTERM/SIGINT, then shut it down fast."""
    child = start(cfg)

    def stop(_signum, _frame) -> None:
        # SIGINT = "fast" shutdown: the default SIGTERM "smart" mode would wait for every client.
        child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        wait_ready(cfg)
        ensure_database(cfg)
        log("postgres", f"ready on {cfg.db_host}:{cfg.db_port}, database {cfg.db_name}, data {cfg.pg_data}")
    except StackError:
        child.send_signal(signal.SIGINT)
        raise
    return child.wait()
