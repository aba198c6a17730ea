"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class JdvaeError(Exception):
    """A problem the user can fix: the message names the problem and the fix, on one line."""
