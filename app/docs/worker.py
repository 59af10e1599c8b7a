"""The parser's child process (`python -m app.docs.worker`), started ahead of need by `isolate`.

It loads its libraries, then waits on stdin for one header line `{"name", "memory_mb", "cpu_s"}`,
limits itself, reads the file's bytes to EOF and writes JSON lines to stdout as it reads:
`{"progress": [done, total]}` and `{"pages": [[number, label, text], ...]}` (batches, so the parent can
index while this reads on), then `{"kind": ...}` at the end, or `{"error": class name, "reason": ...}`.
EOF before a header means it isn't needed: it exits.
"""

from __future__ import annotations

import json
import resource
import sys

import docx  # noqa: F401  (loaded before the file arrives, while the process is idle)
import pptx  # noqa: F401
import pymupdf  # noqa: F401

from app.docs.errors import DocumentError
from app.docs.parse import iter_pages, no_text

BATCH_CHARS = 200_000


def _emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main() -> None:
    header = sys.stdin.buffer.readline()
    if not header:
        return
    job = json.loads(header)
    name, memory_mb = job["name"], job["memory_mb"]
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CPU, (job["cpu_s"], job["cpu_s"]))
    try:
        data = sys.stdin.buffer.read()
        kind, pages = iter_pages(name, data, lambda done, total: _emit({"progress": [done, total]}))
        batch, size, found = [], 0, False
        for page in pages:
            batch.append([page.number, page.label, page.text])
            size += len(page.text)
            if size >= BATCH_CHARS:
                _emit({"pages": batch})
                batch, size, found = [], 0, True
        if batch:
            _emit({"pages": batch})
        elif not found:
            raise no_text(name, kind)
    except DocumentError as exc:
        _emit({"error": type(exc).__name__, "reason": exc.reason})
        return
    except MemoryError:
        _emit({"error": "UnsafeDocument", "reason": f"reading it needed more than {memory_mb} MiB of memory"})
        return
    except Exception as exc:  # a library failing on a damaged file: report it as that file's error
        _emit(
            {
                "error": "UnsupportedDocument",
                "reason": f"the file is damaged or malformed ({type(exc).__name__})",
            }
        )
        return
    _emit({"kind": kind})


if __name__ == "__main__":
    main()
