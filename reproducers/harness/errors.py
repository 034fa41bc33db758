"""User-facing errors: the CLI prints them as one line and exits non-zero, no traceback."""


class UserError(Exception):
    """Bad input the user can fix: the message names the file or flag and what to do."""

    exit_code = 2
