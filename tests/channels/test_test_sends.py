import email
from email import policy

import pytest

from tests.channels.email.smtp_server import start_server


@pytest.fixture
def smtp_catcher():
    controller, handler = start_server()
    yield controller, handler
    controller.stop()


def test_test_send_renders_per_user_and_goes_through_the_workspace_provider(client, tenant, smtp_catcher):
    controller, handler = smtp_catcher
    h = tenant.secret_headers
    smtp = {"host": "127.0.0.1", "port": controller.port, "security": "none", "from_email": "news@acme.test"}
    assert client.put("/v1/providers/smtp", json=smtp, headers=h).status_code == 200
    client.put("/v1/users/ada", json={"email": "ada@example.com", "first_name": "Ada"}, headers=h)
    content = {
        "subject": "Hi {{ user.first_name | default('there') }}",
        "html": "<p>{{ user.attributes.plan | default('free') }}</p>",
    }
    r = client.post(
        "/v1/test-sends",
        json={"channel": "email", "content": content, "external_ids": ["ada"], "emails": ["qa@acme.test"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert [(x["target"], x["outcome"]) for x in r.json()] == [
        ("ada@example.com", "sent"),
        ("qa@acme.test", "sent"),
    ]
    subjects = {
        m.rcpt_tos[0]: email.message_from_bytes(m.data, policy=policy.default)["Subject"]
        for m in handler.messages
    }
    assert subjects == {"ada@example.com": "Hi Ada", "qa@acme.test": "Hi there"}


def test_test_send_errors_are_4xx(client, tenant):
    h = tenant.secret_headers
    r = client.post(
        "/v1/test-sends",
        json={"channel": "email", "content": {"subject": "{{ x"}, "emails": ["a@b.co"]},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "content.subject"
    r = client.post(
        "/v1/test-sends",
        json={"channel": "email", "content": {"subject": "x"}, "external_ids": ["nobody"]},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "external_ids"
    r = client.post(
        "/v1/test-sends",
        json={"channel": "email", "content": {"subject": "x", "text": "y"}, "emails": ["a@b.co"]},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "channel"  # no SMTP configured on Postgres
