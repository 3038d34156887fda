"""Shared pieces of the command-line tools (dataset_tool.py, generate.py, run_metrics.py)."""

import functools

import click


def user_errors(fn):
    """Turns the library's user-facing errors into one-line click errors (exit code 1).

    ValueError / OSError / ImportError carry messages written for users (they name the file and
    what is wrong); a traceback would only bury them.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, OSError, ImportError) as e:
            raise click.ClickException(str(e).splitlines()[0] if str(e) else repr(e)) from None

    return wrapper
