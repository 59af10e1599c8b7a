"""Loading the text and vision models at once (the Vision page opened while the text model loads) works:
first loads run one at a time, so transformers' lazy imports never race. A loaded model is frozen out
of the cyclic garbage collector's walks, and still freed when dropped."""

import gc
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

from models.backends import get_text_backend
from models.settings import ModelSettings
from models.tiny import build_text_checkpoint, build_vision_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return build_text_checkpoint(root / "text"), build_vision_checkpoint(root / "vision")


def test_text_and_vision_first_loads_at_once_in_a_fresh_process(checkpoints: tuple[Path, Path]) -> None:
    text, vision = checkpoints
    script = textwrap.dedent(f"""
        import threading
        from models.settings import ModelSettings
        from models.backends import get_text_backend
        from models.vision import get_vision_backend

        settings = ModelSettings("transformers", {str(text)!r}, {str(vision)!r}, "", "", "chat", False, 0)
        errors = []

        def load(get):
            try:
                get(settings)
            except Exception as exc:
                errors.append(f"{{type(exc).__name__}}: {{exc}}")

        threads = [threading.Thread(target=load, args=(g,)) for g in (get_text_backend, get_vision_backend)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("ERRORS", errors)
    """)
    # A fresh interpreter: transformers must not be imported yet when the two loads start.
    command = [sys.executable, "-c", script]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ERRORS []" in run.stdout, run.stdout + run.stderr[-2000:]


def test_a_loaded_model_is_out_of_the_collectors_walks_and_still_freed_when_dropped(
    checkpoints: tuple[Path, Path],
) -> None:
    text, _ = checkpoints
    backend = get_text_backend(ModelSettings("transformers", str(text), "", "", "", "chat", False, 0))
    model = backend.source.model
    tracked = {id(o) for o in gc.get_objects()}
    assert id(model) not in tracked and id(model.model.embed_tokens) not in tracked
    assert gc.get_freeze_count() > 10_000, "torch's and transformers' objects are frozen with it"
    dropped = weakref.ref(model)
    del backend, model
    assert dropped() is None, "reference counting still frees a frozen model once nothing holds it"


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_what_a_load_froze_and_was_dropped_since_goes_at_the_next_load(
    checkpoints: tuple[Path, Path],
) -> None:
    settings = ModelSettings("transformers", str(checkpoints[0]), "", "", "", "chat", False, 0)
    cycle = Cycle()
    gone = weakref.ref(cycle)
    get_text_backend(settings)
    del cycle
    gc.collect()
    assert gone() is not None, "frozen with the first load, a cycle is out of the collector's reach"
    get_text_backend(settings)
    assert gone() is None, "the next load unfreezes first, and the collection after it frees the cycle"
