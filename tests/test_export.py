"""Exports of a stored conversation: JSON reads back identically, Markdown parses into the right blocks."""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from app.store import Store
from app.store.export import from_json, to_json, to_markdown
from app.tools.base import STOPPED_TOOL
from app.turn import TurnBuffer
from models.messages import Attachment, Message

TRICKY_OUTPUT = "```\nnot the end of the block\n````\nstill output"


@pytest.fixture
def conversation(tmp_path):
    with Store(tmp_path) as store:
        cid = store.create_conversation("alice", "chat")
        store.append_turn(
            "alice",
            cid,
            [
                Message(
                    "user",
                    "Run something",
                    attachments=[Attachment("image", "in.png", "image/png", b"\x89PNG")],
                ),
                Message("assistant", "print('```')\nx = 1", metadata="python", tool_call_id="c1"),
                Message(
                    "observation", TRICKY_OUTPUT, tool_call_id="c1", info={"seconds": 1.25, "is_error": False}
                ),
                Message("assistant", '{"city": "Paris"}', metadata="get_weather"),
                Message("observation", '{"temp": 21}'),
                Message(
                    "assistant",
                    "Done: **x is 1**, it's 21 °C.",
                    info={
                        "timings": {
                            "ttft_s": 0.42,
                            "tokens": 30,
                            "tokens_per_s": 31.5,
                            "total_s": 3.2,
                            "tools": [{"name": "python", "seconds": 1.25}],
                        }
                    },
                ),
            ],
            tool_state={"browser": {"0": "https://example.org"}},
        )
        store.append_turn(
            "alice",
            cid,
            [
                Message("user", "Thanks"),
                Message("assistant", "You're", info={"ttft_s": 0.2, "tokens_per_s": 12.0, "stopped": True}),
            ],
        )
        store.attach_document("alice", cid, "notes.txt", "naïve café".encode())
        yield store.load_conversation("alice", cid)


def test_json_round_trips(conversation):
    text = to_json(conversation)
    assert json.loads(text)["turns"][0][0]["attachments"][0]["data"] == "iVBORw=="
    restored = from_json(text)
    assert restored == conversation
    assert restored.messages == conversation.messages
    with pytest.raises(ValueError):
        from_json('{"turns": []}')


def test_markdown_keeps_tool_calls_observations_and_timings(conversation):
    text = to_markdown(conversation)
    tokens = MarkdownIt().parse(text)
    fences = [(t.info, t.content.rstrip("\n")) for t in tokens if t.type == "fence"]
    assert fences == [
        ("python", "print('```')\nx = 1"),
        ("text", TRICKY_OUTPUT),
        ("", '{"city": "Paris"}'),
        ("text", '{"temp": 21}'),
    ]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [conversation.title, "User", "Assistant", "User", "Assistant"]
    assert "first token 0.42 s · 31.5 tokens/s · python 1.25 s · total 3.2 s" in text
    assert "*took 1.25 s*" in text
    assert "*first token 0.20 s · 12.0 tokens/s*\n\n*(stopped)*" in text
    assert "**Tool call: `get_weather`**" in text
    assert "- notes.txt (sha256 " in text
    assert "- attachment: in.png (image/png)" in text


def test_a_failed_turn_exports_its_error(tmp_path):
    with Store(tmp_path) as store:
        cid = store.create_conversation("alice", "chat")
        error = "The model failed: InternalServerError: 500"
        store.append_turn(
            "alice", cid, [Message("user", "Hi"), Message("assistant", "", info={"error": error})]
        )
        conversation = store.load_conversation("alice", cid)
    text = to_markdown(conversation)
    assert f"## Assistant\n\n**Error:** {error}" in text
    assert from_json(to_json(conversation)).messages[1].info["error"] == error


def test_reasoning_is_kept_and_exported_apart(tmp_path):
    with Store(tmp_path) as store:
        cid = store.create_conversation("alice", "chat")
        turn = [
            Message("user", "2+2?"),
            Message("assistant", "It is 4.", reasoning="Add two and two.\nThat makes 4."),
        ]
        store.append_turn("alice", cid, turn)
        conversation = store.load_conversation("alice", cid)
    assert conversation.messages[1].reasoning == "Add two and two.\nThat makes 4."
    assert from_json(to_json(conversation)).messages[1].reasoning == "Add two and two.\nThat makes 4."
    tokens = MarkdownIt().parse(to_markdown(conversation))
    quoted = [
        t.content
        for i, t in enumerate(tokens)
        if t.type == "inline" and tokens[i - 2].type == "blockquote_open"
    ]
    assert quoted == ["Add two and two.\nThat makes 4."]


def test_a_turn_stopped_mid_cell_exports_the_output_and_says_stopped_once(tmp_path):
    call = Message("assistant", "for i in range(9): print(i)", "python", "c1")
    turn = TurnBuffer([Message("user", "count"), call])
    turn.tool_running(call, seconds=1.5, output="0\n1\n")
    with Store(tmp_path) as store:
        cid = store.create_conversation("alice", "chat")
        store.append_turn("alice", cid, turn.close())
        text = to_markdown(store.load_conversation("alice", cid))
    assert f"{STOPPED_TOOL} Its output until then:\n0\n1\n" in text
    assert text.count("(stopped)") == 1
