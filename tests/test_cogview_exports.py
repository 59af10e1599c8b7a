"""A drawn image stays with the conversation: stored and reloaded, in the Markdown and JSON exports and
in the notebook (a Markdown cell carrying the image)."""

import base64
import json
from io import BytesIO

import nbformat
from PIL import Image

from app.sandbox.notebook import notebook_from_messages
from app.store import Store
from app.store.export import from_json, to_json, to_markdown
from models.messages import Attachment, Message


def drawn_turn() -> list[Message]:
    out = BytesIO()
    Image.new("RGB", (32, 16), "purple").save(out, "PNG")
    image = Attachment("image", "cogview-1.png", "image/png", out.getvalue(), path="cogview-1.png")
    return [
        Message("user", "Draw a purple flag"),
        Message("assistant", "A purple flag waving.", metadata="cogview", tool_call_id="c1"),
        Message(
            "observation",
            "Generated one 32×16 PNG image of: A purple flag waving.",
            tool_call_id="c1",
            attachments=[image],
            info={"image": {"file": "cogview-1.png", "prompt": "A purple flag waving.", "width": 32}},
        ),
        Message("assistant", "Here it is."),
    ]


def test_the_image_survives_storage_and_both_exports(tmp_path) -> None:
    turn = drawn_turn()
    png = turn[2].attachments[0].data
    with Store(tmp_path) as store:
        cid = store.create_conversation("alice", "chat")
        store.append_turn("alice", cid, turn)
        conversation = store.load_conversation("alice", cid)
    assert conversation.messages[2].attachments[0].data == png

    markdown = to_markdown(conversation)
    assert f"![cogview-1.png](data:image/png;base64,{base64.b64encode(png).decode()})" in markdown
    assert "- attachment: cogview-1.png" not in markdown
    assert from_json(to_json(conversation)).messages[2].attachments[0].data == png
    assert json.loads(to_json(conversation))["turns"][0][2]["info"]["image"]["file"] == "cogview-1.png"


def test_the_notebook_shows_the_prompt_and_the_image() -> None:
    turn = drawn_turn()
    python = [
        Message("assistant", "print(1)", metadata="python", tool_call_id="p1"),
        Message("observation", "1\n", tool_call_id="p1", info={"execution_count": 1}),
    ]
    nb = nbformat.reads(notebook_from_messages(turn[:3] + python), as_version=4)
    image_cell, code_cell = nb.cells
    assert image_cell.cell_type == "markdown" and code_cell.cell_type == "code"
    assert (
        image_cell.source
        == "**cogview**: A purple flag waving.\n\n![cogview-1.png](attachment:cogview-1.png)"
    )
    stored = image_cell.attachments["cogview-1.png"]["image/png"]
    assert base64.b64decode(stored) == turn[2].attachments[0].data
