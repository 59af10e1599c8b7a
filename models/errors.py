"""Errors of the model layer that the app shows to the user as they are."""

from __future__ import annotations


class ConfigError(ValueError):
    """A `GLM_*` environment variable has a value the app can't use.

    The message names the variable, the value and what is accepted; the parts are kept as
    attributes for pages that list the problems.
    """

    def __init__(self, variable: str, value: str, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(f"{variable}={value!r} is not valid: expected {accepted}.")


class RequestRefused(RuntimeError):
    """The model server answered a request with an error status (a prompt over its context length, a
    bad request): nothing was generated, and the same request would be refused again."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {detail}")


class ServerGone(RuntimeError):
    """The connection to the model server failed or broke off mid-answer."""
