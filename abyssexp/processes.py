"""What identifies a process: its pid *and* its start time, so a reused pid is never mistaken for
the run that recorded it (``cancel`` signals only a process that matches both)."""

from __future__ import annotations

import errno
import os


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


def own_identity() -> tuple[int, int | None]:
    """This process's pid and start time, to record before it can be signalled."""
    pid = os.getpid()
    return pid, process_start(pid)
