"""Images on the page, sent inside the page over the session's own websocket.

`st.image` would serve the bytes at `/media/<id>`, a URL that answers any client holding it. Here an
image travels as a `data:` URL in `st.html` (sanitised; no script), so only the session that rendered
it ever receives it. Bytes that don't decode as an image (whatever their label says) or are too big
to decode safely become a placeholder naming the file: one bad output never breaks a page.
"""

from __future__ import annotations

import base64
import html
from io import BytesIO

import streamlit as st
from PIL import Image

from app.ui.i18n import t
from app.ui.render import plain

# What browsers show natively, by Pillow's format name.
SHOWN_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_PIXELS = 50_000_000


@st.cache_data(max_entries=512, show_spinner=False)
def image_mime(data: bytes) -> str | None:
    """The MIME type of an image a browser can show, or None for bytes that aren't one (checked
    without decoding the pixels: header, structure, size)."""
    try:
        with Image.open(BytesIO(data), formats=list(SHOWN_FORMATS)) as image:
            if image.width * image.height > MAX_PIXELS:
                return None
            image.verify()
            return SHOWN_FORMATS[image.format or ""]
    except Exception:  # Pillow raises many kinds for bad bytes; all mean "not shown"
        return None


def show_image(data: bytes | None, name: str, width: int | None = None) -> None:
    """The image inline with its name as caption, or a placeholder when it can't be shown."""
    mime = image_mime(data) if data else None
    if mime is None:
        st.caption(":material/broken_image: " + t("image.unreadable", name=plain(name)))
        return
    st.html(figure_html(data or b"", mime, name, width))


def figure_html(data: bytes, mime: str, name: str, width: int | None = None) -> str:
    """The image as a `data:` URL in a figure with its name as caption; the only HTML the app writes
    (the name escaped, the bytes base64, the MIME type one of `SHOWN_FORMATS`)."""
    size = f"width:{int(width)}px;" if width else ""
    encoded = base64.b64encode(data).decode("ascii")
    label = html.escape(name)
    return (
        f'<figure style="margin:0"><img src="data:{mime};base64,{encoded}" alt="{label}" '
        f'style="{size}max-width:100%;height:auto"><figcaption style="font-size:0.8em;opacity:0.7">'
        f"{label}</figcaption></figure>"
    )
