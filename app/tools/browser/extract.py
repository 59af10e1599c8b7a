"""From fetched bytes to a page the model can read: title, main text and links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import lxml.html
import trafilatura

from app.docs.errors import DocumentError
from app.docs.isolate import parse_isolated
from app.tools.browser.fetch import Fetched, FetchError

MAX_LINKS = 30
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript"}
_NOISE_XPATH = "//script|//style|//noscript|//nav|//header|//footer|//aside|//form"
_BOILERPLATE = "ancestor::nav or ancestor::footer or ancestor::header or ancestor::aside"


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str
    links: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False


def make_page(fetched: Fetched, max_chars: int) -> Page:
    """Extract `fetched` by its content type (sniffed when missing); cap the text at `max_chars`."""
    kind = _kind(fetched)
    if kind == "pdf":
        if fetched.truncated:
            raise FetchError("the PDF is larger than the download limit")
        title, text = pdf_text(fetched.data, fetched.url)
        links: list[tuple[str, str]] = []
    elif kind == "html":
        title, text, links = html_text(_decode(fetched) if fetched.charset else fetched.data, fetched.url)
    elif kind == "text":
        title, text, links = "", _decode(fetched), []
    else:
        raise FetchError(f"unsupported content type {fetched.content_type!r}")
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    capped = len(text) > max_chars
    return Page(
        url=fetched.url,
        title=title.strip() or urlsplit(fetched.url).hostname or fetched.url,
        text=text[:max_chars],
        links=links,
        truncated=fetched.truncated or capped,
    )


def _kind(fetched: Fetched) -> str:
    ctype = fetched.content_type
    if ctype == "application/pdf" or (not ctype and fetched.data.startswith(b"%PDF-")):
        return "pdf"
    if ctype in _HTML_TYPES or (not ctype and b"<html" in fetched.data[:2048].lower()):
        return "html"
    if ctype.startswith("text/") or ctype in _TEXT_TYPES or ctype.endswith("+json") or not ctype:
        return "text"
    return "other"


def _decode(fetched: Fetched) -> str:
    try:
        return fetched.data.decode(fetched.charset or "utf-8", errors="replace")
    except LookupError:
        return fetched.data.decode("utf-8", errors="replace")


def html_text(source: str | bytes, url: str) -> tuple[str, str, list[tuple[str, str]]]:
    """Title, main text (trafilatura; navigation, scripts and footers dropped) and the content's links."""
    tree = trafilatura.load_html(source)
    if tree is None:
        return "", "", []
    links = _links(tree, url)
    page_title = " ".join(tree.xpath("string(//title)").split())
    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(document, "text", None) or ""
    if not text.strip():
        text = _fallback_text(source)
    return page_title or getattr(document, "title", None) or "", text, links


def _links(tree: lxml.html.HtmlElement, base: str) -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for anchor in tree.xpath(f"//a[@href][not({_BOILERPLATE})]"):
        href = urljoin(base, anchor.get("href", "").strip())
        if urlsplit(href).scheme in {"http", "https"} and href not in found:
            found[href] = " ".join(anchor.text_content().split())
        if len(found) >= MAX_LINKS:
            break
    return [(text, href) for href, text in found.items()]


def _fallback_text(source: str | bytes) -> str:
    """Visible text without boilerplate, for pages too short for trafilatura's heuristics."""
    tree = trafilatura.load_html(source)
    if tree is None:
        return ""
    for node in tree.xpath(_NOISE_XPATH):
        node.drop_tree()
    lines = (" ".join(line.split()) for line in tree.text_content().splitlines())
    return "\n".join(line for line in lines if line)


def pdf_text(data: bytes, url: str) -> tuple[str, str]:
    """Title (the file's name) and text of a PDF, read by the document parser in its limited child process."""
    name = PurePosixPath(urlsplit(url).path).name or "document.pdf"
    try:
        _, pages = parse_isolated(name, data)
    except DocumentError as exc:
        raise FetchError(f"unreadable PDF: {exc}") from exc
    return name, "\n\n".join(f"[page {page.label}]\n{page.text}" for page in pages)
