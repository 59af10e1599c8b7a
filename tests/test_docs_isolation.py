"""The document parser's child process: sandbox, limits, its own answer channel, the pool, PDF page images."""

from __future__ import annotations

import http.server
import io
import json
import os
import tempfile
import threading
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from app.docs import isolate
from app.docs.errors import (
    DocumentError,
    EncryptedDocument,
    ParseTimeout,
    UnsafeDocument,
    UnsupportedDocument,
)
from app.docs.isolate import Worker, parse_isolated, pdf_page_count, render_pdf_page

ROOT = Path(__file__).resolve().parents[1]
JOB = {"name": "probe", "memory_mb": 1024, "cpu_s": 30}

# Runs where the worker runs, and reports what it can reach on its answer channel (the last argument).
PROBE = r"""
import json, os, socket, sys
data_dir, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def can(action):
    try:
        action()
        return True
    except OSError:
        return False
result = {
    "data_dir": os.path.exists(data_dir),
    "database": can(lambda: open(os.path.join(data_dir, "glm.sqlite3"), "rb").read()),
    "network": can(lambda: socket.create_connection(("127.0.0.1", port), timeout=3).close()),
    "read_code": can(lambda: open(os.path.join(root, "app", "docs", "parse.py")).read()),
    "write_code": os.access(os.path.join(root, "app", "docs", "parse.py"), os.W_OK),
    "uid": os.getuid(),
    "environ": dict(os.environ),
}
with os.fdopen(int(sys.argv[-1]), "w") as out:
    out.write(json.dumps({"result": result}) + "\n")
"""


@pytest.fixture(autouse=True)
def _fresh_pool():
    isolate.shutdown()
    yield
    isolate.shutdown()


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture
def data_dir(monkeypatch):
    """A data directory outside /tmp (which the sandbox replaces anyway), with a database in it."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        (Path(folder) / "glm.sqlite3").write_bytes(b"SQLite format 3\0 every user's conversations")
        monkeypatch.setenv("GLM_DATA_DIR", folder)
        yield folder


def probe(data_dir: str, port: int) -> dict:
    worker = Worker.start(["-c", PROBE, data_dir, str(port), str(ROOT)])
    return worker.run(JOB, b"", timeout=60)["result"]


@pytest.mark.skipif(not isolate.sandboxed(), reason="bubblewrap isn't installed")
def test_the_worker_reaches_neither_the_data_directory_nor_the_network(data_dir, server, monkeypatch):
    monkeypatch.setenv("GLM_API_KEY", "sk-very-secret")
    inside = probe(data_dir, server)
    assert inside["read_code"] and not inside["write_code"]
    assert not inside["data_dir"] and not inside["database"]
    assert not inside["network"]
    assert not any("sk-very-secret" in v or k.startswith("GLM_") for k, v in inside["environ"].items())
    if os.geteuid() == 0:
        assert inside["uid"] == isolate.NOBODY

    monkeypatch.setenv("GLM_KERNEL_SANDBOX", "off")  # the kernel's switch turns this sandbox off too
    outside = probe(data_dir, server)
    assert outside["data_dir"] and outside["database"] and outside["network"]
    assert "sk-very-secret" not in json.dumps(outside["environ"])


def test_whatever_a_library_prints_cannot_garble_the_answer():
    noisy = (
        "import os, runpy; print('Consider using the pymupdf_layout package'); os.write(1, b'{not json\\n'); "
        "runpy.run_module('app.docs.worker', run_name='__main__')"
    )
    pages = []
    final = Worker.start(["-c", noisy]).run(
        {**JOB, "task": "parse", "name": "a.txt"}, b"still parses", 60, pages.append
    )
    assert final == {"kind": "text"}
    assert [r["pages"] for r in pages if "pages" in r] == [[[1, "lines 1-1", "still parses"]]]


def test_a_garbled_answer_is_a_damaged_file_not_a_crash():
    garbled = "import os, sys; os.write(int(sys.argv[-1]), b'MuPDF warning: broken xref\\n')"
    with pytest.raises(UnsupportedDocument, match=r"^odd\.pdf: the parser's answer was garbled"):
        Worker.start(["-c", garbled]).run({**JOB, "name": "odd.pdf"}, b"", 60)


def test_the_worker_loads_no_layout_model_numpy_or_office_readers():
    report = (
        "import json, os, sys; import app.docs.worker; "
        "heavy = {'numpy', 'onnxruntime', 'pymupdf4llm', 'docx', 'pptx'}; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy and sys.modules[m] is not None); "
        "loaded += ['pymupdf.layout'] if sys.modules.get('pymupdf.layout') else []; "
        "answer = {'loaded': loaded, 'pymupdf': 'pymupdf' in sys.modules}; "
        "os.write(int(sys.argv[-1]), json.dumps(answer).encode())"
    )
    answer = Worker.start(["-c", report]).run(JOB, b"", 60)
    assert answer == {"loaded": [], "pymupdf": True}


def startup_mib() -> float:
    """The worker's address space once loaded, before it reads anything."""
    report = (
        "import json, os, sys; import app.docs.worker; "
        "peak = next(l for l in open('/proc/self/status') if l.startswith('VmPeak')); "
        "os.write(int(sys.argv[-1]), json.dumps({'kib': int(peak.split()[1])}).encode())"
    )
    return Worker.start(["-c", report]).run(JOB, b"", 60)["kib"] / 1024


def test_memory_limit_lets_a_normal_file_through_and_stops_a_huge_one():
    limit = int(startup_mib()) + 200  # the same limit for both, relative to what the worker starts with
    normal = ("line of text number one two three\n" * 30_000).encode()  # 1 MB
    kind, pages = parse_isolated("normal.txt", normal, memory_mb=limit)
    assert kind == "text" and sum(len(p.text) for p in pages) > 900_000
    huge = ("line of text number one two three\n" * 2_000_000).encode()  # 68 MB
    with pytest.raises(UnsafeDocument, match=rf"too large or too complex .* {limit} MiB memory limit"):
        parse_isolated("huge.txt", huge, memory_mb=limit)


def test_parser_is_stopped_at_its_time_limit_and_a_timeout_is_not_the_file_s_fault():
    doc = pymupdf.open()
    for _ in range(400):
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 560, 800), "Lorem ipsum dolor sit amet. " * 80)
    data = doc.tobytes()
    with pytest.raises(ParseTimeout, match=r"longer than 0\.05 s") as stopped:
        parse_isolated("slow.pdf", data, timeout=0.05)
    assert not stopped.value.permanent
    assert len(parse_isolated("slow.pdf", data)[1]) == 400


def test_a_replacement_worker_starts_as_soon_as_one_is_taken():
    isolate.prestart()
    waiting = []
    doc = pymupdf.open()
    for n in range(300):
        doc.new_page().insert_text((72, 72), f"page {n}")
    parse_isolated("p.pdf", doc.tobytes(), lambda done, total: waiting.append(len(isolate._pool)))
    assert waiting and all(n == isolate.POOL_SIZE for n in waiting)  # while the taken one was reading


def pdf(*sizes: tuple[float, float], text: str = "Hello page") -> bytes:
    doc = pymupdf.open()
    for n, (width, height) in enumerate(sizes, start=1):
        page = doc.new_page(width=width, height=height)
        page.insert_text((10, 30), f"{text} {n}", fontsize=20)
    return doc.tobytes()


def test_pdf_page_count_and_render_in_the_worker():
    data = pdf((595, 842), (842, 595), (300, 300))
    assert pdf_page_count(data, "three.pdf") == 3
    for page, (width, height) in ((1, (595, 842)), (2, (842, 595))):
        png = render_pdf_page(data, page, "three.pdf", max_pixels=250_000)
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.width * image.height <= 250_000
        assert abs(image.width / image.height - width / height) < 0.01
        assert image.width * image.height > 240_000  # scaled to fit, not far below
        assert image.convert("L").getextrema()[0] < 100  # the text is drawn
    small = Image.open(io.BytesIO(render_pdf_page(data, 3, "three.pdf", max_pixels=4_000_000)))
    assert small.size == (600, 600)  # 144 DPI when that fits: never blown up to the limit


def test_render_refuses_bad_pages_and_files():
    data = pdf((595, 842), (30 * 160, 30), (20 * 140, 20))
    with pytest.raises(UnsafeDocument, match=r"beyond 150:1"):
        render_pdf_page(data, 2, "strip.pdf", max_pixels=250_000)
    long_page = Image.open(io.BytesIO(render_pdf_page(data, 3, "strip.pdf", max_pixels=250_000)))
    assert long_page.width * long_page.height <= 250_000 and long_page.width > 100 * long_page.height
    with pytest.raises(DocumentError, match=r"has 3 pages; there is no page 4"):
        render_pdf_page(data, 4, "strip.pdf", max_pixels=250_000)
    locked = pymupdf.open(stream=data).tobytes(
        encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o"
    )
    with pytest.raises(EncryptedDocument, match=r"^locked\.pdf: the PDF is password-protected"):
        render_pdf_page(locked, 1, "locked.pdf", max_pixels=250_000)
    with pytest.raises(EncryptedDocument):
        pdf_page_count(locked, "locked.pdf")
    with pytest.raises(UnsupportedDocument, match=r"^broken\.pdf: not a readable PDF"):
        pdf_page_count(b"%PDF-1.7\n" + bytes(range(256)) * 20, "broken.pdf")


def test_a_conversation_s_files_in_a_row_share_a_worker_and_no_one_else_gets_it(monkeypatch):
    """A multi-file upload doesn't pay a worker start per file: the worker that read a conversation's
    file waits for that conversation's next one, and only for it; an error or the wait ending stops it."""
    first = parse_isolated("a.txt", b"alpha", owner="conversation-a")
    kept = isolate._kept["conversation-a"]
    assert parse_isolated("b.txt", b"beta", owner="conversation-a") != first
    assert isolate._kept["conversation-a"] is kept and kept.jobs == 2 and kept.alive()

    parse_isolated("c.txt", b"gamma", owner="conversation-b")
    other = isolate._kept["conversation-b"]
    assert other is not kept and other.proc.pid != kept.proc.pid
    assert isolate._kept["conversation-a"] is kept

    with pytest.raises(EncryptedDocument):
        parse_isolated("locked.pdf", _locked(), owner="conversation-a")
    assert "conversation-a" not in isolate._kept and not kept.alive(), "an error stops the worker"

    monkeypatch.setattr(isolate, "KEEP_S", 0.0)
    isolate.prestart()
    assert not isolate._kept and not other.alive(), "kept workers go when their wait is over"


def test_a_kept_worker_gets_its_cpu_limit_anew_for_each_file():
    """The CPU limit is per file: twelve files of a quarter second of CPU each pass a 2-second CPU limit
    in one worker (the limit set once, on the first, would stop the worker around the eighth). The wall
    limit is generous: on a busy machine a file may wait for a core, which is not what this checks."""
    doc = pymupdf.open()
    for _ in range(500):
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 560, 800), "Lorem ipsum dolor sit amet. " * 80)
    data = doc.tobytes()
    for n in range(12):
        kind, pages = parse_isolated(f"{n}.pdf", data, timeout=120, owner="conversation-c", cpu_s=2)
        assert (kind, len(pages)) == ("pdf", 500)
    assert isolate._kept["conversation-c"].jobs == 12


def _locked() -> bytes:
    return pymupdf.open(stream=pdf((595, 842))).tobytes(
        encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o"
    )
