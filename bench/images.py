"""Image preparation figures, in one run: `.venv/bin/python -m bench.images`.

The 49-megapixel 16-bit PNG of issue 10 (tests/fixtures/corpus/images/huge-16bit.png, 117 kB): CPU time
and peak memory of `raster.prepare` (what the parser's worker runs for every uploaded image), against
Pillow only decoding the same file (`Image.open(...).load()`), each in a fresh process so peak RSS is
its own. Before issue 10 this file took 1.37 GB and 20-27 s inside the app process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus" / "images" / "huge-16bit.png"

PROBE = """
import json, resource, sys, time
from io import BytesIO
from PIL import Image
from app.docs.raster import prepare
data = open(sys.argv[1], "rb").read()
start = time.process_time()
if sys.argv[2] == "decode":
    Image.open(BytesIO(data)).load()
else:
    prepare(data, "huge-16bit.png", 2048 * 2048)
print(json.dumps({"cpu_s": time.process_time() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(what: str) -> dict[str, float]:
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(FILE), what], capture_output=True, text=True, check=True, cwd=root
    )
    return json.loads(out.stdout)


def main() -> None:
    decode, prepared = measure("decode"), measure("prepare")
    print(f"file: {FILE.name}, {FILE.stat().st_size / 1024:.0f} kB, 7000x7000 16-bit")
    print(f"Pillow decode only : {decode['cpu_s']:.2f} s CPU, peak {decode['peak_mb']:.0f} MB")
    print(f"raster.prepare     : {prepared['cpu_s']:.2f} s CPU, peak {prepared['peak_mb']:.0f} MB")
    print(
        f"ratio prepare/decode: {prepared['cpu_s'] / decode['cpu_s']:.2f}x CPU, "
        f"{prepared['peak_mb'] / decode['peak_mb']:.2f}x memory"
    )


if __name__ == "__main__":
    main()
