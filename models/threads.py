"""How many CPU threads torch uses for in-process models, chosen for the machine and the model's size.

A big model gets every core this process may use (`sched_getaffinity`, so a container's or taskset's
limit counts, not the host's core count). A small model leaves one core to the app's own threads (the
page streaming the answer, the web server) and takes at most `SMALL_MODEL_THREADS`: its matrix
products are too small to split many ways, and a team of threads that outnumbers the free cores spins
and waits. Measured on this project's 2-core machine, busy with other work (load average 7): the tiny
demo model generated 33 tokens/s greedily with one thread and 7 with two (plain `generate`).

`GLM_TORCH_THREADS` overrides the choice. torch's setting is process-wide, so with a text and a
vision model loaded the larger of their choices holds.
"""

from __future__ import annotations

import os

from models.settings import env_int

SMALL_MODEL_PARAMETERS = 200_000_000
"""Below this a model is small (a 9B model is 45 times larger)."""
SMALL_MODEL_THREADS = 4

SMALL_MODEL_MAX_NEW_TOKENS = 128
"""The answer length offered by default for a small model, short enough to finish in seconds on a busy
machine. With a 151,552-token vocabulary, sampling dominates a tiny model's cost: 256 sampled tokens
took 3.6 s of CPU here (0.7 s greedy), and 18 s when the 2 cores were shared by a load of 19."""

DEFAULT_MAX_NEW_TOKENS = 1024

_chosen: list[int] = []


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_threads(parameters: int, cores: int) -> int:
    """`GLM_TORCH_THREADS` if set, else every usable core for a big model, and for a small one all but
    one (at least one, at most `SMALL_MODEL_THREADS`)."""
    if override := env_int("GLM_TORCH_THREADS", 0, 0, "a whole number of threads (0 or unset: chosen)"):
        return override
    cores = max(1, cores)
    return min(max(1, cores - 1), SMALL_MODEL_THREADS) if parameters < SMALL_MODEL_PARAMETERS else cores


def tune_threads(parameters: int) -> int:
    """Set torch's thread count for a model of `parameters` just loaded; returns the count in force."""
    import torch

    _chosen.append(choose_threads(parameters, usable_cores()))
    threads = max(_chosen)
    torch.set_num_threads(threads)
    return threads


def max_new_tokens_for(parameters: int | None) -> int:
    """The default answer length for a model of this size (None: not known, such as a server's)."""
    small = parameters is not None and parameters < SMALL_MODEL_PARAMETERS
    return SMALL_MODEL_MAX_NEW_TOKENS if small else DEFAULT_MAX_NEW_TOKENS
