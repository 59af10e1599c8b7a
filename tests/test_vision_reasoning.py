"""A thinking model's `<think>` block is split from its answer however the stream is chunked."""

import pytest
from streamlit.testing.v1 import AppTest

from models.events import Done, ReasoningDelta, TextDelta
from models.vision.reasoning import split_reasoning
from tests.test_vision_http import VisionServer
from tests.test_vision_page import PAGE, png

OUTPUTS = {
    "think then answer": (
        "<think>Red dominates; x < 3 holds.</think><answer>The image is red.</answer>",
        "Red dominates; x < 3 holds.",
        "The image is red.",
    ),
    "no tags at all": ("A plain answer with <b> and a < sign.", "", "A plain answer with <b> and a < sign."),
    "answer without answer tags": ("<think>hmm</think>\nIt is blue.", "hmm", "\nIt is blue."),
    "cut off while thinking": ("<think>still going <thi", "still going <thi", ""),
}


def split(chunks: list[str]) -> tuple[str, str]:
    events = list(split_reasoning([*(TextDelta(c) for c in chunks), Done()]))
    assert isinstance(events[-1], Done)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reasoning, answer


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_every_split_gives_the_same_reasoning_and_answer(name: str) -> None:
    raw, reasoning, answer = OUTPUTS[name]
    assert split([raw]) == (reasoning, answer)
    assert split(list(raw)) == (reasoning, answer)
    for cut in range(len(raw) + 1):
        assert split([raw[:cut], raw[cut:]]) == (reasoning, answer), cut


def test_the_page_shows_thinking_apart_and_keeps_it(tmp_path, monkeypatch) -> None:
    server = VisionServer()
    server.thinking = "The middle pixel is pure red."
    server.thread.start()
    try:
        monkeypatch.setenv("GLM_BACKEND", "openai")
        monkeypatch.setenv("GLM_API_BASE", server.base)
        monkeypatch.setenv("GLM_VISION_MODEL", "glm-4.1v-thinking-scripted")
        monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path / "data"))
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.run()
        at.chat_input(key="vision-input").upload("red.png", png((255, 0, 0)), "image/png").set_value(
            "Colour?"
        )
        at.run()
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert not at.exception
    assistant = at.chat_message[1]
    (thinking,) = assistant.expander
    assert "Thinking" in thinking.label
    assert thinking.markdown[0].value == "The middle pixel is pure red."
    assert assistant.markdown[-1].value == "I see 1 image(s): 80x60 (255, 0, 0)."
    (answer,) = [m for m in at.session_state["conversation:vision"].messages if m.role == "assistant"]
    assert answer.info["reasoning"] == "The middle pixel is pure red."
    assert "<think>" not in answer.content
