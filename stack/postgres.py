"""A private PostgreSQL cluster with logical WAL, run as an unprivileged user when started by root."""
from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
from functools import cache
from pathlib import Path

import psycopg

from .config import StackConfig
from .errors import StackError
from .procs import is_root, log, wait_until

PG_USER = "postgres"  # OS user that owns the cluster when we run as root

# Settings the pipeline depends on. wal_level=logical is what Debezium needs; the slot cap keeps a
# stopped relay from filling the disk (docs/design.md, "Replication slot") at the price of a re-snapshot.
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


# Where a cluster goes when the data directory is out of the server user's reach (a checkout under
# /root, or in a mode-0700 temporary directory): one directory per data directory, owned by that user.
FALLBACK_ROOT = Path("/var/lib/orders-pipeline")


@cache
def _reachable_by_server_user(path: Path) -> bool:
    """Whether the server's OS user can search every directory down to `path` (or its nearest
    existing ancestor, under which the directories created later stay searchable)."""
    while not path.exists():
        path = path.parent
    return subprocess.run(["runuser", "-u", PG_USER, "--", "test", "-x", str(path)]).returncode == 0


def cluster_dir(cfg: StackConfig) -> Path:
    """The cluster's directory: `<data>/pg`, unless root runs the stack from a directory that the
    unprivileged server user cannot enter; then a directory of its own under FALLBACK_ROOT, named
    after the data directory. No permission of the user's directories is ever changed."""
    if not is_root() or _reachable_by_server_user(cfg.data_dir):
        return cfg.pg_data
    digest = hashlib.sha256(str(cfg.data_dir).encode()).hexdigest()[:16]
    return FALLBACK_ROOT / digest / "pg"


def _chown_for_server(path: Path) -> None:
    if is_root():
        entry = pwd.getpwnam(PG_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init_cluster(data: Path) -> bool:
    """Create the cluster in `data` unless it exists; returns True when it was created."""
    if (data / "PG_VERSION").exists():
        return False
    if data.exists():  # an initdb that died half-way: nothing of value, and initdb refuses it
        shutil.rmtree(data)
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
    argv = [str(bin_dir() / "postgres"), "-D", str(cluster_dir(cfg)), "-p", str(cfg.db_port)]
    settings = dict(SERVER_SETTINGS, listen_addresses=cfg.db_host)
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def accepts_connections(cfg: StackConfig, dbname: str = "postgres") -> bool:
    try:
        with psycopg.connect(cfg.db_dsn_for(dbname), connect_timeout=1):
            return True
    except psycopg.OperationalError:
        return False


def wait_ready(cfg: StackConfig, timeout: float = 60, *, database: str = "postgres") -> None:
    """Wait until the server accepts connections to `database` (the app's once it is created)."""
    wait_until(lambda: accepts_connections(cfg, database), timeout=timeout,
               what=f"PostgreSQL on {cfg.db_host}:{cfg.db_port}, database {database}")


def ensure_database(cfg: StackConfig) -> None:
    """Create the application database if it does not exist yet.

    Called by the web process before it migrates, and nowhere else in a running stack: two
    creators race (one gets UniqueViolation on pg_database's name index, not DuplicateDatabase)."""
    with psycopg.connect(cfg.db_dsn_for("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cfg.db_name,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{cfg.db_name}"')
                log("postgres", f"created database {cfg.db_name}")
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # created meanwhile by someone outside the stack


def check_logical_wal(cfg: StackConfig) -> None:
    """Fail fast, naming the fix, when the server cannot feed Debezium."""
    with psycopg.connect(cfg.db_dsn, connect_timeout=5) as conn:
        level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        raise StackError(f"PostgreSQL at {cfg.db_host}:{cfg.db_port} has wal_level={level}; Debezium "
                         "needs wal_level=logical (set it in postgresql.conf and restart the server).")


def serve(cfg: StackConfig) -> int:
    """Become the server (exec), as the unprivileged user when started by root (PostgreSQL refuses
    root), so a supervisor's signals reach the postmaster itself: SIGTERM is a smart shutdown,
    SIGINT a fast one. The application database is created by the web process, before it
    migrates (one place creates it, so first starts do not race)."""
    init_cluster(cluster_dir(cfg))
    argv = server_argv(cfg)
    log("postgres", f"PostgreSQL on {cfg.db_host}:{cfg.db_port}, data {cluster_dir(cfg)}")
    if is_root():
        entry = pwd.getpwnam(PG_USER)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    os.execv(argv[0], argv)
    return 0  # unreachable
