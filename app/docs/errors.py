"""Why a file could not be used. Every message is written for the person who uploaded it."""

from __future__ import annotations


class DocumentError(ValueError):
    """A file that can't be read; `str(error)` names the file and says what went wrong."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason

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
