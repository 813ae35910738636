"""What identifies a process: its pid *and* its start time, so a reused pid is never mistaken for
the run that recorded it; and, before ``cancel`` signals it, what it runs: a pid and a start time
read from a record are a claim (a planted record can name any process with its real start time),
so the process must also be ``abyssexp <command>`` holding that experiment's lock file open
(``runs_abyssexp``)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Final, Literal

#: What ``owner_state`` says of the process that left something (a record, a temporary, a claim).
OwnerState = Literal["live", "gone", "elsewhere"]
LIVE: Final = "live"
GONE: Final = "gone"
ELSEWHERE: Final = "elsewhere"


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (field 22 of ``/proc/<pid>/stat``),
    or None when the process is gone or ``/proc`` is not there."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            text = handle.read(4096).decode("ascii", "replace")
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ')': split after the last.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall: fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (signal 0: nothing is sent); another
    user's process counts as alive. The one check behind a record's derived ``crashed`` and a
    promotion temporary's owner."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def same_process(pid: int | None, start: int | None) -> bool:
    """Whether ``pid`` still names the process that started at ``start`` (both recorded)."""
    if not pid or pid <= 0 or start is None:
        return False
    return process_start(pid) == start


def this_host() -> str:
    """The name this host records as an owner's ``host``."""
    return socket.gethostname()


def owner_state(host: str | None, pid: int | None, start: int | None = None) -> OwnerState:
    """Whether the process ``host``/``pid``/``start`` that left something is still there: the
    one answer to "is its owner gone?" behind a record's ``crashed``, a killed command's debris,
    a promotion's temporary and an object store claim.

    ``GONE`` only when this host can tell: the pid is free, or names another process now (its
    start time, when both are known, differs). Another host's process, or a pid that is not one
    (0, negative, missing), is ``ELSEWHERE``: never this host's to call dead.

    Args:
        host: the host that recorded it (``this_host()`` there).
        pid: its pid.
        start: its start time (``process_start``); None when not recorded.
    """
    if host != this_host() or not pid or pid <= 0:
        return ELSEWHERE
    if not pid_alive(pid):
        return GONE
    now = process_start(pid) if start is not None else None
    return GONE if now is not None and now != start else LIVE


def own_identity() -> tuple[int, int | None]:
    """This process's pid and start time, to record before it can be signalled."""
    pid = os.getpid()
    return pid, process_start(pid)


def command_line(pid: int) -> list[str] | None:
    """The arguments ``pid`` was started with (``/proc/<pid>/cmdline``), or None when it is gone,
    another user's, or ``/proc`` is not there."""
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
            raw = handle.read(1 << 16)
    except (OSError, ValueError):
        return None
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0")[:-1]] or None


def _abyssexp_command(args: list[str]) -> str | None:
    """The command of an ``abyssexp`` command line (``abyssexp --debug train X``, ``python -m
    abyssexp train X``): the first argument after the program that is not a flag."""
    for index, arg in enumerate(args):
        script = index < 2 and os.path.basename(arg) == "abyssexp"  # python's shebang adds one
        if script or (arg == "abyssexp" and index > 0 and args[index - 1] == "-m"):
            rest = [a for a in args[index + 1 :] if not a.startswith("-")]
            return rest[0] if rest else None
    return None


def holds_open(pid: int, path: Path) -> bool:
    """Whether ``pid`` has the file ``path`` open (one of ``/proc/<pid>/fd/*`` names it)."""
    wanted = os.path.realpath(path)
    try:
        fds = os.listdir(f"/proc/{int(pid)}/fd")
    except (OSError, ValueError):
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{int(pid)}/fd/{fd}") == wanted:
                return True
        except OSError:
            continue
    return False


def runs_abyssexp(pid: int | None, start: int | None, command: str, lock_file: Path) -> bool:
    """Whether a recorded ``pid`` and ``start`` still name ``abyssexp <command>`` of the folder
    whose ``lock_file`` that process holds open: the identity ``cancel`` checks before SIGTERM."""
    if pid is None or not same_process(pid, start):
        return False
    args = command_line(pid)
    return bool(args) and _abyssexp_command(args or []) == command and holds_open(pid, lock_file)
