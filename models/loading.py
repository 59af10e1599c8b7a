"""What every model load does in this process: one at a time, and what it leaves alive is frozen.

transformers imports its classes lazily, and two threads importing them for the first time at once
can see a half-initialised module (`ImportError: cannot import name 'AutoConfig' from 'transformers'`):
the Vision page opened while the text model loads did exactly that. Loads are also the heaviest thing
the app does, so running them one after the other costs little and keeps memory peaks apart.

A loaded model, and the torch and transformers modules it imported, live as long as the process:
some 400,000 objects that Python's cyclic garbage collector would otherwise walk in every full
collection. Streamlit runs one after every script run (`runner.postScriptGC`), twice per answer,
and here each took 0.3 to 2 s under load, holding the GIL, so generation and the web server's
event loop stalled meanwhile. `gc.freeze()` after a load moves everything alive then out of the
collector's reach (a full collection then takes milliseconds). A frozen object is still freed by
reference counting (the tiny text model is, tested; the tiny vision model was too, tried), but cyclic
garbage among frozen objects is not collected: a dropped object with cycles (a diffusers pipeline has
them) would stay. Each load therefore starts by unfreezing, so whatever an earlier load froze and the
app has dropped since (a model switched away from on the Models page, a replaced cogview pipeline)
goes at the next load.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.RLock()


def one_at_a_time(load: Callable[P, T]) -> Callable[P, T]:
    """Run `load` while no other decorated load runs in this process; freeze what is alive after it."""

    @functools.wraps(load)
    def serialized(*args: P.args, **kwargs: P.kwargs) -> T:
        with _lock:
            gc.unfreeze()
            loaded = load(*args, **kwargs)
            gc.collect()
            gc.freeze()
            return loaded

    return serialized


def folder_without_config(model: str) -> bool:
    """Whether `model` names a folder here that holds no `config.json`: not a checkpoint (yet), which
    transformers would report as a tokenizer or `model_type` error far from the cause."""
    folder = Path(model).expanduser()
    return folder.is_dir() and not (folder / "config.json").is_file()
