"""Typed errors. Only cli/ catches them: it prints one line to stderr and exits with `exit_code`.

Every message says what went wrong and what to do about it. The exit codes are documented in the README.
"""

from __future__ import annotations


class WholerepoError(Exception):
    """Base of every error the CLI turns into a one-line message."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(WholerepoError):
    """Bad flags, bad paths, bad configuration: the user can fix the call."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file or environment variable holds a value we cannot use."""


class NotAGitRepositoryError(UsageError):
    """The path is not inside a git work tree (and --no-git was not given)."""


class ModelUnavailableError(WholerepoError):
    """No answer could be had from a model. Subclasses say why; `review` maps them all to 3."""

    exit_code = 3


class ServerUnreachableError(ModelUnavailableError):
    """Nothing answers at the endpoint."""

    exit_code = 3


class ContextOverflowError(ModelUnavailableError):
    """The prompt is longer than the model's context; it was never sent."""

    exit_code = 4


class RequestTimeoutError(ModelUnavailableError):
    """The server accepted the request but did not finish in time."""

    exit_code = 5


class StreamBrokenError(ModelUnavailableError):
    """The server died or closed the stream before the answer was complete."""

    exit_code = 6


class ModelNotFoundError(ModelUnavailableError):
    """The server runs, but not the model asked for."""

    exit_code = 7


class InvalidModelOutputError(ModelUnavailableError):
    """The model's output did not validate (for example a review that is not the schema's JSON)."""

    exit_code = 8


class HardwareError(UsageError):
    """The model cannot be served on the hardware found or named (weights do not fit, no kernels)."""


EXIT_INTERRUPTED = 130
