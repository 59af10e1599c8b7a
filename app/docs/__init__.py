"""Long documents: a conversation's files (`shelf.Shelf`), parsed and indexed (`store.load_document`) in a
sandboxed child process (`isolate`), then fit or retrieve (`context.build_context`).

Kept import-free so the parser's child process (`worker`) loads only what parsing needs.
"""
