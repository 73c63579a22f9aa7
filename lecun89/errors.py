"""The one exception type the CLI turns into a one-line message and an exit status."""


class UserError(Exception):
    """A problem with the user's input (config, file, data, argument).

    The CLI prints ``lecun89: error: <message>`` on stderr, with no traceback,
    and exits with ``status`` (2 for bad configs and arguments, 1 otherwise).
    """

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status
