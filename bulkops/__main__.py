"""``python -m bulkops`` and the ``bulkops`` command: the CLI, then a quick exit.

Once :func:`bulkops.cli.main` has returned, everything the command does is done: its state is
closed and its reports are written (or it failed with what it had to say). What is left is the
interpreter tearing down every module and object, a quarter of a second or more once pandas and
pyarrow are loaded, during which the command looks busy to whoever waits for it (a shell, cron,
a service manager). So flush what is buffered and leave without that teardown. An exception that
escapes ``main`` (a bug) still takes the ordinary way out, with its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

from .cli import main


def entry() -> NoReturn:
    """Run the CLI and exit with its code, skipping the interpreter's teardown."""
    code = main()
    logging.shutdown()  # flushes every handler (the JSON summary on stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: main said so already
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
