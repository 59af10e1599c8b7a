"""The embedding model's child process (`python -m app.docs.embed_worker MODEL MEMORY_MB FD`), started by
`app.docs.embeddings` with the document parser's sandbox and limits.

It limits its address space to MEMORY_MB before loading anything, loads the sentence-transformers model in
MODEL (a folder), then reads jobs from stdin the way the parser's worker does: a header line
`{"task": "embed", "size", "cpu_s", ...}` followed by `size` bytes, a JSON list of texts. It answers on file
descriptor FD with `{"vectors": base64 float32, "shape": [n, dim]}` (unit length), or
`{"error": class name, "reason": ...}`. Background work: it runs at low priority on one thread.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
from typing import Any, BinaryIO


def serve(model_path: str, channel: BinaryIO) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.nice(10)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(model_path, device="cpu")

    def emit(record: dict[str, Any]) -> None:
        channel.write(json.dumps(record).encode() + b"\n")
        channel.flush()

    emit({"ready": model.get_sentence_embedding_dimension()})
    while header := sys.stdin.buffer.readline():
        job = json.loads(header)
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + job["cpu_s"]
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        texts = json.loads(sys.stdin.buffer.read(job["size"]))
        try:
            vectors = model.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
        except MemoryError:
            emit({"error": "MemoryError", "reason": "the embedding model ran out of its memory limit"})
            continue
        data = vectors.astype("float32")
        emit({"vectors": base64.b64encode(data.tobytes()).decode("ascii"), "shape": list(data.shape)})


if __name__ == "__main__":
    memory = int(sys.argv[2]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    with os.fdopen(int(sys.argv[3]), "wb") as out:
        serve(sys.argv[1], out)
