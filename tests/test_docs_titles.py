"""A Long document conversation is named after its first file until the first question, then after it."""

from app.store import Store
from tests.scripted_server import Rule
from tests.test_app_workspaces import ask_documents, env, open_page, with_memo  # noqa: F401


def title(data, at) -> str:  # type: ignore[no-untyped-def]
    conversation_id = at.session_state["conversation:documents"].id
    return Store(data).summary("local", conversation_id).title


def test_title_from_the_file_then_from_the_first_question(env) -> None:  # noqa: F811
    serve, data = env
    serve([Rule("\nIt closes at 3 pm.", when="cafeteria")])
    at = with_memo(open_page("documents.py"))
    assert title(data, at) == "memo.txt"
    listed = [b.label for b in at.sidebar.button if "memo.txt" in b.label]
    assert listed, "the list shows the file's name, not 'New conversation'"
    ask_documents(at, "When does the cafeteria close?")
    assert title(data, at) == "When does the cafeteria close?"
    ask_documents(at, "And the cafeteria on Sundays?")
    assert title(data, at) == "When does the cafeteria close?", "only the first question names it"
    (field,) = [f for f in at.sidebar.text_input if f.label == "Title"]
    assert field.value == "When does the cafeteria close?", "the field shows the new title"
    field.set_value("Cafeteria hours").run()
    assert title(data, at) == "Cafeteria hours", "an edit renames it"
    at.run()
    assert title(data, at) == "Cafeteria hours"
