"""The limits put on uploads and on the parser, in one place (each a `GLM_*` variable, read when asked)."""

from __future__ import annotations

from app.config import env_int

# Office files (DOCX, PPTX) are zip archives; these bound what opening one may expand to.
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
MAX_ZIP_RATIO = 100
# GLM-4V's image processor refuses shapes beyond 200:1; rounding to its 28-pixel patches needs a margin.
# Images and rendered PDF pages alike are refused past it.
MAX_ASPECT_RATIO = 150


def max_upload_mb() -> int:
    """`GLM_MAX_UPLOAD_MB` (default 50): the largest file accepted, in MB of 2**20 bytes."""
    return env_int("GLM_MAX_UPLOAD_MB", 50)


def parse_timeout_s() -> int:
    """`GLM_DOC_PARSE_TIMEOUT` (default 120): seconds one file may take to parse."""
    return env_int("GLM_DOC_PARSE_TIMEOUT", 120)


def parse_memory_mb() -> int:
    """`GLM_DOC_PARSE_MEMORY_MB` (default 2048): address space the parser process may use, in MiB."""
    return env_int("GLM_DOC_PARSE_MEMORY_MB", 2048)
