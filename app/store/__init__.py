"""Storage: conversations and their turns in SQLite (`conversations`), the schema and its migrations
(`schema`), and exports to Markdown and JSON (`export`)."""

from app.store.conversations import (
    TITLE_LENGTH,
    UNTITLED,
    WORKSPACES,
    Conversation,
    ConversationNotFound,
    ConversationSummary,
    OpenTurn,
    StaleConversation,
    Store,
    StoredDocument,
    make_title,
    new_conversation_id,
)

__all__ = [
    "TITLE_LENGTH",
    "UNTITLED",
    "WORKSPACES",
    "Conversation",
    "ConversationNotFound",
    "ConversationSummary",
    "OpenTurn",
    "StaleConversation",
    "Store",
    "StoredDocument",
    "make_title",
    "new_conversation_id",
]
