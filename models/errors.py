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
