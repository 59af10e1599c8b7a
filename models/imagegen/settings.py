"""Image generation settings from `GLM_IMAGE_*` environment variables, read when asked.

Off unless `GLM_IMAGE_API_BASE` (an OpenAI-compatible images API) or `GLM_IMAGE_MODEL` (a CogView
pipeline folder or hub id, run in-process) is set; the API wins when both are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.errors import ConfigError
from models.settings import env_int, env_str, env_url

DEFAULT_SIZE = "1024x1024"
DEFAULT_STEPS = 50
DEFAULT_API_MODEL = "cogview-4"
SIZE_MULTIPLE = 16
MIN_SIDE, MAX_SIDE = 16, 2048
MAX_STEPS = 200
_SIZE = re.compile(r"\s*(\d+)\s*(?:[x×*]\s*(\d+))?\s*", re.I)
SIZE_ACCEPTED = (
    f"WIDTHxHEIGHT or one side for a square, each a multiple of {SIZE_MULTIPLE} from {MIN_SIDE} to "
    f"{MAX_SIDE}, such as {DEFAULT_SIZE} (the default)"
)


def image_size(name: str = "GLM_IMAGE_SIZE") -> tuple[int, int]:
    """`GLM_IMAGE_SIZE` as (width, height): the size of every generated image."""
    raw = env_str(name, DEFAULT_SIZE)
    match = _SIZE.fullmatch(raw)
    if match is None:
        raise ConfigError(name, raw, SIZE_ACCEPTED)
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if not all(MIN_SIDE <= side <= MAX_SIDE and side % SIZE_MULTIPLE == 0 for side in (width, height)):
        raise ConfigError(name, raw, SIZE_ACCEPTED)
    return width, height


def image_steps(name: str = "GLM_IMAGE_STEPS") -> int:
    """`GLM_IMAGE_STEPS`: denoising steps per image (in-process only; an API chooses its own)."""
    steps = env_int(name, DEFAULT_STEPS, 1, f"a whole number from 1 to {MAX_STEPS}, such as {DEFAULT_STEPS}")
    if steps > MAX_STEPS:
        raise ConfigError(name, str(steps), f"a whole number from 1 to {MAX_STEPS}, such as {DEFAULT_STEPS}")
    return steps


@dataclass(frozen=True)
class ImageSettings:
    """Where images come from (`mode`: "api", "local" or "off") and their size and step limits."""

    model: str
    api_base: str
    api_key: str
    api_model: str
    width: int
    height: int
    steps: int

    @property
    def mode(self) -> str:
        if self.api_base:
            return "api"
        return "local" if self.model else "off"

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @classmethod
    def from_env(cls) -> ImageSettings:
        width, height = image_size()
        return cls(
            model=env_str("GLM_IMAGE_MODEL"),
            api_base=env_url("GLM_IMAGE_API_BASE").rstrip("/"),
            api_key=env_str("GLM_IMAGE_API_KEY"),
            api_model=env_str("GLM_IMAGE_API_MODEL", DEFAULT_API_MODEL),
            width=width,
            height=height,
            steps=image_steps(),
        )
