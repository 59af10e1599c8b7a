"""Errors of the model layer. The UI shows them in the user's language: each says what happened as a
`kind` with the `values` its text needs (app/ui/i18n.py has the words); the message is for logs."""

from __future__ import annotations

import re


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


# How servers say a prompt exceeds the context: vLLM ("maximum context length is 8192 tokens"), SGLang
# ("exceeds the maximum allowed length"), llama.cpp ("exceeds the available context size").
_TOO_LONG = re.compile(
    r"context (?:length|size|window)|maximum (?:allowed )?(?:context|length)|max_model_len|too long", re.I
)


class ReportedError(RuntimeError):
    """An error the UI says in the user's language: `kind` names what happened (empty: say the message
    as it is) and `values` fill in its text (app/ui/i18n.py, keys `model_error.{kind}`)."""

    def __init__(self, message: str, kind: str = "", **values: object) -> None:
        super().__init__(message)
        self.kind = kind
        self.values = values


class RequestRefused(RuntimeError):
    """The model server answered a request with an error status (a prompt over its context length, a
    bad request): nothing was generated, and the same request would be refused again.

    `kind` says which for the UI ("too_long" or "bad_request"); `values` fill in its text. The
    message (for logs) is the status and the server's own reason.
    """

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {detail}")

    @property
    def kind(self) -> str:
        return "too_long" if _TOO_LONG.search(self.detail) else "bad_request"

    @property
    def values(self) -> dict[str, object]:
        return {"status": self.status, "detail": self.detail}


class ServerGone(RuntimeError):
    """The connection to the model server failed (`kind` "unreachable": nothing was sent) or broke off
    mid-answer ("lost"); `values` carry the transport's own words."""

    def __init__(self, detail: str, unreachable: bool = False) -> None:
        self.detail = detail
        self.kind = "unreachable" if unreachable else "lost"
        super().__init__(detail)

    @property
    def values(self) -> dict[str, object]:
        return {"detail": self.detail}
