"""Sign-in in the real app: before signing in, no URL reaches a workspace or anyone's conversations,
even as the first request a fresh server gets (when Streamlit would run a file of app/pages/ itself);
signed in, a user who isn't in GLM_ADMINS has no Models page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.auth import add_user
from app.store import Store
from models.messages import Message
from tests.e2e import CHAT_BOX, MESSAGE, chromium, running_app

HEADINGS = "[...document.querySelectorAll('h1')].map(h => h.innerText).join('|')"
SECRETS = ["Local secret plans", "The vault code is 8812", "Alice private notes", "Alice answer 4471"]


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    with Store(data) as store:
        for user, workspace, (question, answer) in [
            ("local", "documents", SECRETS[:2]),
            ("pw:alice", "vision", SECRETS[2:]),
        ]:
            cid = store.create_conversation(user, workspace)
            store.append_turn(user, cid, [Message("user", question), Message("assistant", answer)])
    users = tmp_path / "users.txt"
    add_user("alice", "alice-secret-1", users)
    return {
        "GLM_AUTH": "password",
        "GLM_AUTH_FILE": str(users),
        "GLM_DATA_DIR": str(data),
        "GLM_BACKEND": "openai",
        "GLM_API_BASE": "http://127.0.0.1:9/v1",
    }


def only_the_sign_in_form(page: Page) -> None:
    page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
    # Elements of the view before a rerun stay until the run ends; then give a workspace time to draw.
    page.wait_for_function(f"() => {HEADINGS} === 'GLM Studio'", timeout=30_000)
    page.wait_for_timeout(1500)
    body = page.inner_text("body")
    assert page.evaluate(HEADINGS) == "GLM Studio"
    for text in [*SECRETS, "All Tools", "Long document", "Conversations", "Retry last answer"]:
        assert text not in body, f"{text!r} shown before sign-in at {page.url}"
    assert page.locator(CHAT_BOX).count() == 0 and page.locator(MESSAGE).count() == 0


@pytest.mark.parametrize("first", ["documents", "vision", "chat"])
def test_no_workspace_before_sign_in(app_env: dict[str, str], tmp_path: Path, first: str) -> None:
    with running_app(app_env, tmp_path / "app.log") as app, chromium() as browser:
        page = browser.new_page()
        for path in [first, "", "documents", "vision", "no-such-page"]:
            page.goto(f"{app.url}/{path}")
            only_the_sign_in_form(page)
        page.goto(f"{app.url}/documents")
        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password", exact=True).fill("alice-secret-1")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Long document").wait_for(timeout=30_000)
        assert "Local secret plans" not in page.inner_text("body"), "alice never sees the local user's data"
        nav = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert "Long document" in nav and "Models" not in nav, "Models is for GLM_ADMINS only (none here)"
        page.get_by_role("button", name="Sign out").click()
        only_the_sign_in_form(page)


@pytest.mark.parametrize(("first", "heading"), [("documents", "Long document"), ("vision", "Vision")])
def test_a_fresh_server_s_first_request_for_a_workspace_goes_through_the_navigation(
    tmp_path: Path, first: str, heading: str
) -> None:
    """Streamlit would run app/pages/<first>.py by itself, without main.py: no page setup, its own
    page list ('main', 'chat', …) and, without the repository on the path, an import error."""
    env = {
        "GLM_DATA_DIR": str(tmp_path / "data"),
        "GLM_BACKEND": "openai",
        "GLM_API_BASE": "http://127.0.0.1:9/v1",
    }
    with running_app(env, tmp_path / "app.log") as app, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{app.url}/{first}")
        page.get_by_role("heading", name=heading).wait_for(timeout=30_000)
        nav = page.locator("[data-testid=stSidebarNav]").inner_text()
        labels = {line.strip() for line in nav.splitlines()}
        assert {"All Tools", "Long document", "Vision"} <= labels and not labels & {
            "main",
            "chat",
            "documents",
        }
        assert page.locator("[data-testid=stException]").count() == 0
        assert "Traceback" not in (tmp_path / "app.log").read_text()
