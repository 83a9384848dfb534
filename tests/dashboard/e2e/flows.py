"""Steps the browser tests share."""

from __future__ import annotations

import httpx

from tests.dashboard.helpers import PASSWORD


def sign_up(page, base: str, email: str = "ada@example.com", workspace: str = "Acme Shoes") -> str:  # type: ignore[no-untyped-def]
    """Sign up through the form; returns the workspace's overview URL."""
    page.goto(f"{base}/dashboard/signup")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Work email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password, again").fill(PASSWORD)
    page.get_by_label("Workspace name").fill(workspace)
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/dashboard/w/*/?notice=welcome")
    return page.url.split("?")[0]


def open_section(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Follow a sidebar entry."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def create_key(page, kind: str = "secret", label: str = "backend") -> str:  # type: ignore[no-untyped-def]
    open_section(page, "API keys")
    page.get_by_label("Label").fill(label)
    page.get_by_label("Kind").select_option(kind)
    page.get_by_role("button", name="Create key").click()
    return page.locator("#new-key").inner_text().strip()


def send_users(base: str, key: str) -> None:
    """Users, events and a device arrive through the public API, as from an app's backend."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as api:
        for n, (zone, plan) in enumerate(
            [("Asia/Kathmandu", "pro"), ("America/New_York", "free"), ("Europe/Paris", "pro")]
        ):
            response = api.put(
                f"/v1/users/user-{n}",
                json={
                    "email": f"person{n}@example.com",
                    "first_name": ["Grace", "Linus", "Margaret"][n],
                    "timezone": zone,
                    "country": ["NP", "US", "FR"][n],
                    "attributes": {"plan": plan, "bio": "<script>alert('owned')</script>", "visits": n * 3},
                },
            )
            assert response.status_code == 201, response.text
        events = [
            {"user_id": "user-1", "name": "purchase", "properties": {"value": 19.9, "item": "<b>shoes</b>"}}
        ]
        events += [{"user_id": "user-1", "name": "app_open"}]
        assert api.post("/v1/events/batch", json={"events": events}).status_code == 200
        device = {"platform": "apns", "token": "a" * 64, "environment": "production", "app_version": "3.2.1"}
        assert api.post("/v1/users/user-1/devices", json=device).status_code in (200, 201)
