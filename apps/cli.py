"""Error handling shared by the command-line tools (generate.py, run_metrics.py, dataset_tool.py,
run_training.py).

Two kinds of failure, told apart by type:

* Bad input (a flag, a config, a dataset, a file) raises `tf_stylegan.errors.UserError`, whose
  message names what is wrong. The tool prints it as one line, `Error: <message>`, and exits
  with status 1 (click's code for `ClickException`). A traceback would only bury the message.
* Anything else is a bug: its traceback is printed in full and the tool exits with
  `BUG_EXIT_CODE`, so scripts can tell a crash from a rejected input.

click's own usage errors (unknown option, bad option value) keep click's exit status 2.
"""

import functools
import sys
import traceback

import click

from tf_stylegan.errors import UserError

# EX_SOFTWARE of BSD sysexits.h, "internal software error": distinct from 1 (bad input) and
# 2 (usage), and from Python's own 1 for an uncaught exception.
BUG_EXIT_CODE = 70


def user_errors(fn):
    """Decorates a click command: `UserError` -> one-line `Error: ...` and exit 1; any other
    exception -> its full traceback on stderr and exit `BUG_EXIT_CODE`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise click.ClickException(message) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own handling (usage errors exit 2)
        except Exception:
            traceback.print_exc()
            sys.exit(BUG_EXIT_CODE)

    return wrapper
