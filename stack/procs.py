"""Small helpers shared by the launchers: run a child in the foreground, wait for a port."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from .errors import StackError

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child before exec: get `sig` when the parent dies, so no orphan holds a port."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def spawn(argv: Sequence[str], *, user: str | None = None, env: dict[str, str] | None = None,
          stdout=None, stderr=None, cwd: str | None = None) -> subprocess.Popen:
    """Start a child that dies with this process; `user` drops privileges (Postgres refuses root)."""
    kwargs: dict = {}
    if user is not None:
        kwargs.update(user=user, group=user, extra_groups=[])
    return subprocess.Popen(list(argv), env=env, stdout=stdout, stderr=stderr, cwd=cwd,
                            preexec_fn=die_with_parent, **kwargs)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `predicate` until it is true; raise StackError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")


def log(component: str, message: str) -> None:
    print(f"[{component}] {message}", file=sys.stderr, flush=True)


def is_root() -> bool:
    return os.geteuid() == 0
