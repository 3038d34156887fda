"""The one error type for bad input.

Validation of flags, configs, datasets and files raises `UserError` with a message written for a
user: it names the file or option and what is wrong. The command-line tools print such an error
as one line and exit with status 1; every other exception is a bug and keeps its traceback.
`UserError` subclasses `ValueError` so that callers of the Python API can catch either.
"""

__all__ = ["UserError"]


class UserError(ValueError):
    """Bad input from the user (a flag, a config, a dataset, a file): message names what and why."""
