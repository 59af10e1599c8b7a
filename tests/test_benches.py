"""The benchmarks still run end to end (at a tiny size; their figures are not judged here)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SMALL = {
    "pipeline": "import sys; sys.argv = ['pipeline', '--tokens', '300', '--runs', '1']",
    "kernel": "bench.CELLS = 3; bench.BIG_CELLS = 2; bench.FIRST_CALLS = 1",
    "docs": "bench.PAGES = 30; bench.NEEDLE_PAGES = 25",
    "store": "bench.IMAGES = 2; bench.IMAGE_MB = 1; bench.RUNS = 1",
    "mcp": "bench.CALLS = 3",
    "cogview": "import sys; sys.argv = ['cogview', '--runs', '1', '--steps', '2', '--peak-size', '32']",
    "images": "pass",
    "client": "import sys; sys.argv = ['client', '--tokens', '20', '--runs', '1']",
}
EXPECTED = {
    "pipeline": [
        r"^\s+301\s+\d+\s+\d+\s+\d+\.\d{3}",
        r"^glm45:\n.*\n\s+30\d\s+\d+\s+\d+\s+\d+\.\d{3}",
        r"glm45 parser alone: \d+\.\d{3} µs/token at \d+ tokens \(glm4 parser \d+\.\d{3} µs/token, "
        r"\d+\.\d\dx\)",
    ],
    "kernel": [
        r"ratio against the faster raw path \d+\.\d\dx",
        r"1 MB ratio against the faster raw path \d+\.\d\dx",
        r"warm pool\s+\d+\.\d ms",
        r"idle kernel RSS: \d+ MiB",
    ],
    "docs": [
        r"ratio pipeline / raw:\s+\d+\.\d\dx",
        r"needle recall, 32,768-token window .*: \d+/20",
        r"BM25 with stemming:\s+\d+/20",
        r"BM25 \+ dense \(reciprocal rank fusion\):\s+\d+/20",
        r"per question, index warm: \d+ ms",
    ],
    "store": [
        r"ratio big / tiny: \d+\.\d\dx",
        r"write lock held, tiny turn: \d+\.\d\d ms; big turn: \d+\.\d\d ms",
        r"database after the big turn: \d+ KiB",
    ],
    "mcp": [r"echo .* ratio app / raw \d+\.\d\dx", r"picture .* ratio app / raw \d+\.\d\dx"],
    "images": [r"ratio prepare/decode: \d+\.\d\dx CPU, \d+\.\d\dx memory"],
    "cogview": [
        r"ratio bare / tool: \d+\.\d\dx",
        r"peak memory of one generation, 64x64: \d+ MiB resident \(\+\d+\.\d MiB",
        r"peak memory of one generation, 32x32: \d+ MiB resident",
    ],
    "client": [
        r"^\s+chat\s+20\s+\d+\s+\d+\s+\d+\.\d{3}\s+\d+\.\d\s+\d+\.\d",
        r"^\s+completions\s+160\s+\d+\s+\d+\s+\d+\.\d{3}",
    ],
}


@pytest.mark.parametrize("name", list(SMALL))
def test_bench_runs_and_prints_its_figures(name: str, tmp_path: Path) -> None:
    code = f"import bench.{name} as bench; {SMALL[name]}; bench.main()"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for pattern in EXPECTED[name]:
        assert re.search(pattern, done.stdout, re.M), f"{pattern!r} not in:\n{done.stdout}"
