"""Model-assisted recall (`GLM_DOC_QUERY_EXPANSION=1`): the chat model rewrites the question as search
keywords in the documents' language (the Qwen-Agent idea), and BM25's ranking of those keywords joins the
fusion. One short extra model call per question, shown as a step."""

from __future__ import annotations

import re
import threading
from dataclasses import replace

from app.config import env_bool
from app.docs.document import Document
from app.docs.fusion import Ranking
from app.docs.index import rank_chunks
from models.backends.base import ChatBackend
from models.events import TextDelta
from models.messages import GenerationParams, Message

MAX_KEYWORD_TOKENS = 64
EXCERPT_CHARS = 300
PROMPT = (
    "Search keywords for: {question}\n\n"
    "Write 5 to 10 search keywords or short phrases that passages answering this question would contain: "
    "synonyms and related terms too, in the language of this excerpt of the documents:\n{excerpt}\n\n"
    "Answer with the keywords only, separated by commas."
)


def expansion_enabled() -> bool:
    return env_bool("GLM_DOC_QUERY_EXPANSION")


def expand_query(
    backend: ChatBackend,
    question: str,
    documents: list[Document],
    params: GenerationParams,
    cancel: threading.Event,
) -> str:
    """The model's keywords for `question` (one line, at most `MAX_KEYWORD_TOKENS` tokens, no reasoning)."""
    excerpt = next((d.pages[0].text[:EXCERPT_CHARS] for d in documents if d.pages), "")
    prompt = PROMPT.format(question=question, excerpt=excerpt)
    short = replace(params, max_new_tokens=MAX_KEYWORD_TOKENS, thinking=False, temperature=0.1)
    text = "".join(
        event.text
        for event in backend.stream([Message("user", prompt)], [], short, cancel)
        if isinstance(event, TextDelta)
    )
    return re.sub(r"\s+", " ", text).strip()


def keyword_ranking(keywords: str, documents: list[Document]) -> Ranking:
    return [(hit.document, hit.chunk) for hit in rank_chunks(keywords, documents)]
