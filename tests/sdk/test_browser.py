"""The browser SDK in headless Chromium against a real Nudge server: identify, track,
in-app messages in all three layouts (at once, on a trigger event, and live over SSE),
dismissal, and the service worker registration."""

import asyncio
import shutil
import socket
import threading
import time
import uuid

import pytest
import uvicorn
from sqlalchemy import select

from app.auth.user_signature import user_signature
from app.channels.base import OutboundMessage
from app.inbox.channel import InboxChannel
from app.main import create_app
from app.models import Event, InboxItem, User
from app.models.base import utcnow

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(settings, database, sink):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, database=database, sink=sink), host="127.0.0.1", port=port, log_level="warning"
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    while not runner.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    runner.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def _deliver(database, workspace_id, user_id, **content):
    """Through the real channel, on a thread of its own (Playwright owns this thread's loop)."""
    message = OutboundMessage(uuid.uuid4(), workspace_id, user_id, "in_app", {}, content)
    sender = threading.Thread(target=lambda: asyncio.run(InboxChannel(database).send([message])))
    sender.start()
    sender.join(10)
    return message.delivery_id


def test_sdk_identifies_tracks_and_shows_in_app_messages(
    server, browser, tenant, settings, database, tmp_path
):
    with database.transaction(tenant.workspace_id) as s:
        s.add(
            User(
                workspace_id=tenant.workspace_id,
                external_id="web-1",
                first_seen_at=utcnow(),
                last_seen_at=utcnow(),
                attributes={},
            )
        )
    with database.transaction(tenant.workspace_id) as s:
        user_id = s.scalars(select(User.id)).one()
    modal = _deliver(
        database,
        tenant.workspace_id,
        user_id,
        layout="modal",
        title="Welcome!",
        body="Glad you are here",
        buttons=[{"label": "Thanks", "action": "dismiss"}],
        colours={"background": "#fff8e1"},
    )
    _deliver(
        database,
        tenant.workspace_id,
        user_id,
        layout="banner",
        title="Back again?",
        trigger="app_open",
        colours={"background": "#1e3a8a", "text": "#ffffff"},
    )

    signature = user_signature(settings, tenant.workspace_id, "web-1")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/sdk/demo?key={tenant.publishable}&user=web-1&signature={signature}")
    page.wait_for_selector("body[data-ready='1']")

    page.wait_for_selector(".nudge-modal")  # no trigger: shown at once
    assert page.inner_text(".nudge-modal h2") == "Welcome!"
    assert page.locator(".nudge-banner").count() == 0  # waits for its trigger
    page.screenshot(path=str(tmp_path / "modal.png"))
    page.click(".nudge-modal button")
    page.click("#open")
    page.wait_for_selector(".nudge-banner")
    assert page.inner_text(".nudge-banner h2") == "Back again?"

    _deliver(
        database, tenant.workspace_id, user_id, layout="full_screen", title="Live offer", body="Just for you"
    )
    page.wait_for_selector(".nudge-full_screen", timeout=10_000)  # arrives over the event stream
    page.screenshot(path=str(tmp_path / "full.png"))
    assert errors == []

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with database.transaction(tenant.workspace_id) as s:
            items = {i.delivery_id: i for i in s.scalars(select(InboxItem))}
            events = [e.name for e in s.scalars(select(Event))]
            first_name = s.scalars(select(User.first_name)).one()
        if items[modal].dismissed_at and "app_open" in events:
            break
        time.sleep(0.1)
    assert items[modal].read_at and items[modal].dismissed_at
    assert all(i.read_at for i in items.values())  # every shown message counts as opened
    assert events == ["app_open"] and first_name == "Demo"


def test_service_worker_registers(server, browser, tenant):
    page = browser.new_page()
    page.goto(f"{server}/sdk/demo?key={tenant.publishable}&user=sw-user")
    state = page.evaluate(
        """() => navigator.serviceWorker.register('/sdk/nudge-sw.js', {scope: '/'})
              .then(() => navigator.serviceWorker.ready).then(r => r.active ? r.active.state : 'none')"""
    )
    assert state in ("activating", "activated")
