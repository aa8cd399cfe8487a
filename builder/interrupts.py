"""How the command line ends when it is stopped: a signal or a closed standard output.

SIGINT, SIGTERM, SIGHUP and SIGQUIT all raise `Interrupted` in the main thread. It derives
from BaseException (not Exception, not KeyboardInterrupt) so that no `except Exception`
swallows it and click does not turn it into "Aborted!"; while it unwinds, `atomic_file`
removes its temporary file (and the CLI removes any left in TEMPORARIES), so the previous
output stays untouched. The CLI then prints one line and exits with 128 + the signal
number, as a shell reports a killed process.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


TEMPORARIES: set[str] = set()
"""Temporary files being written (by `builder.io.atomic_file`); removed when a stop signal
ends the process, wherever the signal landed (even between creating one and entering the
`try` that would remove it)."""


def remove_temporaries() -> None:
    for path in list(TEMPORARIES):
        try:
            os.unlink(path)
        except OSError:
            pass
        TEMPORARIES.discard(path)


class Interrupted(BaseException):
    """The process received one of STOP_SIGNALS."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


def install() -> None:
    """Make every stop signal raise Interrupted (main thread only)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)


def ignore_stop_signals() -> None:
    """From now on the stop signals are ignored: the process is already ending."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _stop(signum: int, frame: FrameType | None) -> None:
    ignore_stop_signals()  # a second signal must not interrupt the clean-up of the first
    raise Interrupted(signum)


def quiet_exit_on_closed_stdout() -> None:
    """End quietly after a write to a closed pipe (`builder summarize x.yaml | head -1`).

    Python flushes stdout again at exit, which would print a second BrokenPipeError; pointing
    stdout at /dev/null first (Python's documented recipe) leaves nothing to fail. The status
    is 128 + SIGPIPE, as for a tool the pipe's signal would have ended.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (a test runner's buffer): nothing to flush later
    finally:
        os.close(devnull)
    sys.exit(128 + getattr(signal, "SIGPIPE", 13))
