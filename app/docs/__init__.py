"""Long documents: parse (`store.load_document`), then fit or retrieve (`context.build_context`).

Kept import-free so the parser's child process (`worker`) loads only what parsing needs.
"""
