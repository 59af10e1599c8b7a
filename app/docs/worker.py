"""The parser's child process (`python -m app.docs.worker FD`), started ahead of need by `isolate`.

It loads PyMuPDF, then reads jobs from stdin: a header line `{"task", "name", "size", "memory_mb",
"cpu_s", ...}` followed by exactly `size` bytes of the file. Before its first job it limits its address
space; before each job, its CPU time. It answers in JSON lines on file descriptor FD, a pipe of its own
(stdout leads nowhere, so nothing a library prints can garble the answer):

- task "parse": `{"progress": [done, total]}` and `{"pages": [[number, label, text], ...]}` (batches, so
  the parent can index while this reads on), then `{"kind": ...}`;
- task "count": `{"count": pages}`; task "render" (with "page" and "max_pixels"): `{"png": base64}`;
- task "image" (with "max_pixels"): `{"image": base64, "mime": ...}` (`raster.prepare`);
- or `{"error": class name, "reason": ...}`.

The parent sends a worker the files of one conversation only, and stops it after any error. EOF: it exits.
"""

from __future__ import annotations

import sys

# PyMuPDF 2.x imports its layout analyser (an ONNX model) and pymupdf4llm whenever they are installed:
# half a second and hundreds of MB of address space before reading a byte, for features plain text
# extraction doesn't use. A None entry makes those optional imports fail at once, as if not installed.
sys.modules["pymupdf.layout"] = None
sys.modules["pymupdf4llm"] = None

import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any, BinaryIO  # noqa: E402

import pymupdf  # noqa: E402, F401  (loaded while the process waits; DOCX and PPTX readers load on demand)

from app.docs.errors import DocumentError, UnsupportedDocument  # noqa: E402
from app.docs.failures import explain  # noqa: E402
from app.docs.parse import file_kind, iter_pages, no_text  # noqa: E402
from app.docs.pdf_render import count_pages, render_page  # noqa: E402
from app.docs.raster import ImageError, prepare  # noqa: E402

BATCH_CHARS = 200_000
Emit = Callable[[dict[str, Any]], None]


def _parse(name: str, data: bytes, emit: Emit) -> None:
    kind, pages = iter_pages(name, data, lambda done, total: emit({"progress": [done, total]}))
    batch, size, found = [], 0, False
    for page in pages:
        batch.append([page.number, page.label, page.text])
        size += len(page.text)
        if size >= BATCH_CHARS:
            emit({"pages": batch})
            batch, size, found = [], 0, True
    if batch:
        emit({"pages": batch})
    elif not found:
        raise no_text(name, kind)
    emit({"kind": kind})


def _run(job: dict[str, Any], data: bytes, emit: Emit) -> None:
    name = job["name"]
    if job["task"] == "parse":
        _parse(name, data, emit)
    elif job["task"] == "count":
        emit({"count": count_pages(name, data)})
    elif job["task"] == "image":
        try:
            prepared = prepare(data, name, int(job["max_pixels"]))
        except ImageError as exc:
            raise UnsupportedDocument(name, str(exc), exc.key, exc.values) from exc
        emit({"image": base64.b64encode(prepared.data).decode("ascii"), "mime": prepared.mime})
    elif job["task"] == "render":
        png = render_page(name, data, int(job["page"]), int(job["max_pixels"]))
        emit({"png": base64.b64encode(png).decode("ascii")})
    else:
        raise ValueError(f"unknown task {job['task']!r}")


def serve(channel: BinaryIO) -> None:
    def emit(record: dict[str, Any]) -> None:
        channel.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        channel.flush()

    limited = False
    while header := sys.stdin.buffer.readline():
        job = json.loads(header)
        if not limited:
            memory = job["memory_mb"] * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            limited = True
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + job["cpu_s"]
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        _answer(job, sys.stdin.buffer.read(job["size"]), emit)


def _answer(job: dict[str, Any], data: bytes, emit: Emit) -> None:
    try:
        _run(job, data, emit)
    except DocumentError as exc:
        emit({"error": type(exc).__name__, "reason": exc.reason, "key": exc.key, "values": exc.values})
    except Exception as exc:  # a library failing on a damaged file (or memory): that file's error, in words
        error = explain(job["name"], exc, file_kind(job["name"], data), job["memory_mb"])
        emit(
            {"error": type(error).__name__, "reason": error.reason, "key": error.key, "values": error.values}
        )


if __name__ == "__main__":
    with os.fdopen(int(sys.argv[1]), "wb") as out:
        serve(out)
