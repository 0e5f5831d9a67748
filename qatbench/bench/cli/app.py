"""The ``qatbench`` typer app, its command table, and ``main``: the one place an error
that escaped a command becomes an exit code.

Exit codes: 0 all well; 1 a job failed or a regression was found (results are still
written); 2 bad usage, a bad config or a bad input file, a damaged run directory file or
an output that cannot be written (each named); 70 an internal error (a bug: one line
here, the traceback in a file whose path is printed); 130 interrupted.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from qatbench.bench.cli import gate, inspection, timing
from qatbench.bench.cli.output import errors
from qatbench.bench.orchestration.session import EXIT_USAGE
from qatbench.errors import UserError

EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: never 1, which `compare` uses for a regression
EXIT_INTERRUPTED = 130
EXIT_CODES = ("Exit codes: 0 all well; 1 a job failed or a regression was found; 2 bad "
              "usage, config or input, a damaged run file or an unwritable output; 70 an "
              "internal error (traceback saved to a file it names); 130 interrupted.")

# An OSError with one of these and a path, escaping a command, is about the place (a
# full disk, a read-only folder, a file where a folder goes...), not a bug.
PLACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                errno.EEXIST, errno.ENOTDIR, errno.EISDIR}


def user_mistake(error: BaseException) -> str | None:
    """What to tell the user if ``error`` is their mistake (a ``UserError``: bad input, a
    damaged run file, an unwritable place -- its message names it -- or an OSError about
    a named place); None for anything else (a bug)."""
    if isinstance(error, UserError):
        return error.user_message()
    if isinstance(error, OSError) and error.errno in PLACE_ERRNOS and error.filename:
        return f"cannot use {error.filename}: {error.strerror or error}"
    return None


class Commands(TyperGroup):
    """The command group: the one place a user's mistake, escaping any command, becomes
    one line on stderr and exit 2 (in the app itself, so ``CliRunner(app)`` sees it too)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            message = user_mistake(error)
            if message is None:
                raise
            errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
            raise typer.Exit(EXIT_USAGE) from None


app = typer.Typer(cls=Commands, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, epilog=EXIT_CODES,
                  help="Quantization-aware training benchmarks on the hardware you deploy to.")
plot_app = typer.Typer(help="Plots across runs.", no_args_is_help=True)
cache_app = typer.Typer(help="The build cache: list its entries, prune it.",
                        no_args_is_help=True)

# the command table, in the order `qatbench --help` lists it
app.command()(timing.run)
app.command()(gate.ab)
app.command("bisect")(gate.bisect)
app.command()(timing.build)
app.add_typer(cache_app, name="cache")
cache_app.command("list")(timing.cache_list)
cache_app.command("prune")(timing.cache_prune)
app.command()(timing.bench)
app.command()(timing.profile)
app.command()(timing.tune)
app.command()(inspection.explore)
app.command("targets")(inspection.targets)
app.command("models")(inspection.models)
app.command()(inspection.report)
app.command()(gate.compare)
app.add_typer(plot_app, name="plot")
app.command("history")(gate.history)
plot_app.command("history")(gate.plot_history)
app.command()(inspection.fingerprint)


def terminate_as_interrupt(signum: int, frame: Any) -> None:
    """A CI cancel (SIGTERM) stops a run as Ctrl-C does: children are taken down, what
    finished is on disk, and the run can be resumed."""
    raise KeyboardInterrupt


def save_traceback(error: BaseException) -> Path | None:
    """The traceback of an unforeseen error in a file of its own; None if none can be
    written (then it goes to stderr)."""
    import datetime
    import tempfile
    import traceback

    text = (f"qatbench {' '.join(sys.argv[1:])}\n"
            f"{datetime.datetime.now(datetime.UTC).isoformat()}  python {sys.version}\n\n"
            + "".join(traceback.format_exception(error)))
    try:
        handle, name = tempfile.mkstemp(prefix="qatbench-crash-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError:
        sys.stderr.write(text)
        return None
    return Path(name)


def report_error(error: BaseException) -> int:
    """One line for an error that escaped the app, and its exit code: 70, its traceback
    saved to a file. (A user's mistake exits 2 in ``Commands``; one arising outside a
    command is said the same way here.)"""
    message = user_mistake(error)
    if message is not None:
        errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
        return EXIT_USAGE
    saved = save_traceback(error)
    first = (str(error).strip().splitlines() or [""])[0]
    where = f"the traceback is in {saved}" if saved else "the traceback is above"
    errors.print(f"[red]internal error[/] ({escape(type(error).__name__)}"
                 f"{': ' + escape(first) if first else ''}); {escape(where)} -- please "
                 "report it. Everything measured so far is on disk.", highlight=False)
    return EXIT_INTERNAL


def main() -> None:
    """The ``qatbench`` console script: the app, with every escaped error named once."""
    signal.signal(signal.SIGTERM, terminate_as_interrupt)
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # the one place every escaped error is named
        sys.exit(report_error(error))
