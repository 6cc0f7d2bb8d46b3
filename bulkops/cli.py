"""Command-line interface: argument parsing, logging set-up and exit codes only.

Exit codes: 0 everything succeeded or was already in place; 1 finished with failed operations;
2 invalid invocation, job file or configuration, or a damaged state (nothing sent); 73 another run
holds the state or the Zoom account, or the state holds an unfinished run of another job file or
belongs to another account; 75 stopped early and resumable; 77 authentication or permission
refused. Which error or run result means which code is one table,
:data:`bulkops.exit_codes.EXIT_TABLE`. Output cut short by a closed pipe (``| head``) ends
quietly with 141, as a shell reports a process that SIGPIPE ended.

``-v``, ``-q`` and ``--log-format`` go before or after the command (``bulkops -v run …`` and
``bulkops run … -v`` are the same). With ``--log-format json`` the last line on stderr is a
``{"event": "summary", …}`` object: the exit code, why a run stopped, and the reports' paths.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from . import __version__
from .authoring import add_authoring_commands, cmd_holidays, cmd_init
from .directory_cmd import add_directory_command, cmd_directory
from .errors import BulkopsError, ConfigError
from .exit_codes import EXIT_OK, exit_row
from .export_cmd import add_export_command, cmd_export
from .job_commands import (
    add_job_commands,
    cmd_diff,
    cmd_plan,
    cmd_run,
    cmd_validate,
    emit_summary,
    sim_overrides,
)

EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell shows for a writer whose reader went away


def _add_global_flags(p: argparse.ArgumentParser, *, top: bool) -> None:
    """The flags every command takes, before or after its name.

    A subcommand's copies default to SUPPRESS: argparse lets a subparser's defaults overwrite
    what the main parser parsed, so ``bulkops -v run …`` would otherwise lose its ``-v``.
    """

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    p.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help="log every operation"
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress display; a run prints its summary only when something needs attention",
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=default("text"),
        help="json: one JSON object per line on stderr, ending with a summary event",
    )


def build_parser(*, simulator_flags: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkops",
        description="Change Zoom Phone call-handling settings of many extensions from a job file.",
        epilog="Exit codes: 0 ok, 1 some operations failed, 2 invalid input (nothing sent), "
        "73 another run holds the state or the account (see --wait), or the state holds an "
        "unfinished run of another job, 75 stopped early (run "
        "again to resume), 77 authentication refused.",
    )
    parser.add_argument("--version", action="version", version=f"bulkops {__version__}")
    _add_global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_job_commands(sub)

    p = sub.add_parser("status", help="progress of a job by state; sends nothing")
    p.add_argument("job", type=Path, nargs="?", help="the job file (finds its default state)")
    p.add_argument("--state", type=Path, help="state directory")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("report", help="(re)write the reports of a state directory")
    p.add_argument("job", type=Path, nargs="?", help="the job file (finds its default state)")
    p.add_argument("--state", type=Path, help="state directory")
    p.add_argument("--out", type=Path, help="write the reports here instead")

    add_authoring_commands(sub)
    add_directory_command(sub)
    add_export_command(sub)

    p = sub.add_parser("simulate", help="serve the Zoom Phone simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    if simulator_flags:  # the simulator package loads pandas: `bulkops status` must stay light
        from .simulator import add_arguments

        add_arguments(p)
    for command in sub.choices.values():
        _add_global_flags(command, top=False)
    return parser


def _configure_logging(verbose: bool, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:

        class JsonFormatter(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                return orjson.dumps(
                    {
                        "event": "log",
                        "at": record.created,
                        "level": record.levelname.lower(),
                        "logger": record.name,
                        "message": record.getMessage(),
                    }
                ).decode()

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("bulkops: %(message)s"))
    root = logging.getLogger("bulkops")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _state_dir(ns: argparse.Namespace) -> Path:
    from .state.checkpoint import default_state_dir

    if ns.state is not None:
        return Path(ns.state)
    if ns.job is not None:
        return default_state_dir(ns.job)
    raise ConfigError("name the job file or pass --state DIR")


def _cmd_status(ns: argparse.Namespace) -> int:
    from .reports.status import format_status, read_status

    status = read_status(_state_dir(ns))
    if ns.json:
        print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
    else:
        print(format_status(status))
    return EXIT_OK


def _cmd_report(ns: argparse.Namespace) -> int:
    from .reports.results import write_all

    for name, path in write_all(_state_dir(ns), out_dir=ns.out).items():
        print(f"{name:<16}  {path}")
    return EXIT_OK


def _cmd_directory(ns: argparse.Namespace) -> int:
    return cmd_directory(ns, sim_overrides(ns.sim))


def _cmd_simulate(ns: argparse.Namespace) -> int:
    from .simulator import config_from_args, serve

    serve(config_from_args(ns), ns.host, ns.port)
    return EXIT_OK


_COMMANDS = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "run": cmd_run,
    "diff": cmd_diff,
    "status": _cmd_status,
    "report": _cmd_report,
    "simulate": _cmd_simulate,
    "directory": _cmd_directory,
    "holidays": cmd_holidays,
    "init": cmd_init,
    "export": cmd_export,
}


def _quiet_stdout() -> None:
    """The reader of stdout left (``| head``): send what is still buffered nowhere, so that
    neither this process nor Python's final flush dies on it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(simulator_flags="simulate" in argv)
    ns = parser.parse_args(argv)
    json_log = ns.log_format == "json"
    _configure_logging(ns.verbose, json_log)
    started = time.monotonic()
    try:
        code = _COMMANDS[ns.command](ns)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BulkopsError as exc:  # the exit-code table has a row for every one
        row = exit_row(exc)
        if json_log:
            message = f"{row.prefix}{exc}"
            emit_summary({"command": ns.command, "exit_code": row.code, "error": message})
        else:
            print(f"bulkops: {row.prefix}{exc}", file=sys.stderr)
        return row.code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        print(f"bulkops: interrupted after {time.monotonic() - started:.0f}s", file=sys.stderr)
        return 130
