"""Why a file could not be used. Every message is written for the person who uploaded it."""

from __future__ import annotations


class DocumentError(ValueError):
    """A file that can't be read; `str(error)` names the file and says what went wrong.

    `permanent` says whether reading the same bytes again would fail the same way, so the verdict can be
    remembered; a timeout or a parser that died may have been the machine's doing, not the file's.
    """

    permanent = True

    def __init__(
        self, filename: str, reason: str, key: str | None = None, values: dict[str, object] | None = None
    ) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason
        self.key = key  # the UI catalogue's entry for this message (`app/ui/i18n.py`), when it has one
        self.values = {"name": filename, **(values or {})}

    def __str__(self) -> str:  # OSError (under ParseTimeout's TimeoutError) has its own otherwise
        return f"{self.filename}: {self.reason}"


class UnsupportedDocument(DocumentError):
    """A format we don't read, or a file with no text in it."""


class EncryptedDocument(DocumentError):
    """Password-protected."""


class UnsafeDocument(DocumentError):
    """Too big, or an archive that would expand far beyond its size (a compression bomb)."""


class ParseTimeout(DocumentError, TimeoutError):
    """The parser ran past its time limit and was stopped."""

    permanent = False


class ParserStopped(DocumentError):
    """The parser process died (killed by a signal, or it exited without an answer)."""

    permanent = False
