"""The Outbox page: the emails embedded mode kept instead of sending, per workspace."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from app.channels.base import OutboundMessage, Outcome
from app.channels.email.message import Sender
from app.channels.email.outbox import OutboxChannel
from app.main import create_app
from tests.dashboard.helpers import member_browser, sign_up
from tests.fixtures.factories import make_tenant


@pytest.fixture
def dashboard_app(settings, database, sink, reset_links, tmp_path):  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"outbox_dir": tmp_path}), database=database, sink=sink)
    app.state.reset_link_sender = reset_links
    return app


def _keep(dashboard_app, workspace_id: uuid.UUID, subject: str, html: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """An email as embedded mode's email channel writes it."""
    channel = OutboxChannel(dashboard_app.state.settings.outbox_dir, Sender("news@acme.test"), links=None)
    message = OutboundMessage(
        uuid.uuid4(),
        workspace_id,
        uuid.uuid4(),
        "email",
        {"email": "ada@example.com"},
        {"subject": subject, "html": html, "text": "Hello Ada"},
    )
    [result] = asyncio.run(channel.send([message]))
    assert result.outcome == Outcome.sent
    return message.delivery_id


def test_outbox_lists_and_shows_the_workspaces_own_emails(browser, database, dashboard_app):  # type: ignore[no-untyped-def]
    workspace_id = sign_up(browser())
    analyst = member_browser(browser, database, workspace_id, "analyst")
    empty = analyst.get(f"/dashboard/w/{workspace_id}/outbox")
    assert empty.status_code == 200 and "No emails yet" in empty.text
    body = "<p>Hello <b>Ada</b><script>x()</script></p>"
    mine = _keep(dashboard_app, workspace_id, "Spring sale for Ada", body)
    other = make_tenant(database, "Globex")
    theirs = _keep(dashboard_app, other.workspace_id, "Globex secrets", "<p>no</p>")

    listing = analyst.get(f"/dashboard/w/{workspace_id}/outbox")
    assert "Spring sale for Ada" in listing.text and "ada@example.com" in listing.text
    assert "Globex secrets" not in listing.text
    shown = analyst.get(f"/dashboard/w/{workspace_id}/outbox/{mine}")
    assert shown.status_code == 200
    # The body only inside a sandboxed frame, escaped into its srcdoc; the text part as text.
    assert 'sandbox="" title="Email body" srcdoc="&lt;p&gt;Hello &lt;b&gt;Ada' in shown.text
    assert "<script>x()" not in shown.text and "Hello Ada" in shown.text
    assert "<dt>From</dt><dd><code>news@acme.test</code></dd>" in shown.text
    assert analyst.get(f"/dashboard/w/{workspace_id}/outbox/{theirs}").status_code == 404


def test_outbox_needs_the_right_to_read_personal_data(browser, database, dashboard_app):  # type: ignore[no-untyped-def]
    workspace_id = sign_up(browser())
    delivery_id = _keep(dashboard_app, workspace_id, "Hi", "<p>Hi</p>")
    viewer = member_browser(browser, database, workspace_id, "viewer")
    assert viewer.get(f"/dashboard/w/{workspace_id}/outbox").status_code == 403
    assert viewer.get(f"/dashboard/w/{workspace_id}/outbox/{delivery_id}").status_code == 403
