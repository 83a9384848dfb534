from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update

from app.models import Invitation, Membership, Role
from tests.dashboard.helpers import PASSWORD, make_operator, member_browser, post, sign_in, sign_up


def _invite(client, workspace_id, email: str, role: str = "marketer"):  # type: ignore[no-untyped-def]
    return post(
        client,
        f"/dashboard/w/{workspace_id}/members/invite",
        {"email": email, "role": role},
        token_from=f"/dashboard/w/{workspace_id}/members",
    )


def _link(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 201, response.text
    return urlsplit(re.search(r'<code id="invite-link">([^<]+)</code>', response.text).group(1)).path


def _roles(database, workspace_id) -> dict:  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return {m.operator_id: m.role for m in session.scalars(select(Membership))}


def test_an_invitation_makes_a_new_account_with_its_role_once(browser, database, settings):
    owner = browser()
    workspace_id = sign_up(owner)
    link = _link(_invite(owner, workspace_id, "Grace@Example.com", "analyst"))

    guest = browser()
    page = guest.get(link)
    assert page.status_code == 200 and "grace@example.com" in page.text and "Analyst" in page.text
    joined = post(guest, link, {"name": "Grace", "password": PASSWORD, "password_again": PASSWORD})
    assert joined.status_code == 303
    assert guest.get(f"/dashboard/w/{workspace_id}/").status_code == 200
    assert sorted(_roles(database, workspace_id).values()) == ["analyst", "owner"]

    assert browser().get(link).status_code == 404  # used
    assert sign_in(browser(), "grace@example.com").status_code == 303


def test_an_invitation_works_even_with_sign_up_closed(browser, database, dashboard_app, settings):
    owner = browser()
    workspace_id = sign_up(owner)
    dashboard_app.state.settings = settings.model_copy(update={"public_signup": False})
    link = _link(_invite(owner, workspace_id, "grace@example.com"))
    assert browser().get("/dashboard/signup").status_code == 404
    guest = browser()
    assert post(guest, link, {"password": PASSWORD, "password_again": PASSWORD}).status_code == 303


def test_an_existing_operator_accepts_when_signed_in_with_the_invited_address(browser, database):
    owner = browser()
    workspace_id = sign_up(owner)
    other_workspace = sign_up(grace := browser(), email="grace@example.com", workspace="Grace's")
    link = _link(_invite(owner, workspace_id, "grace@example.com", "admin"))

    stranger = browser()
    sign_up(stranger, email="mallory@example.com", workspace="Mallory's")
    assert "You are signed in as mallory@example.com" in stranger.get(link).text
    refused = post(stranger, link)
    assert refused.status_code == 403
    assert len(_roles(database, workspace_id)) == 1

    assert "Join Acme" in grace.get(link).text
    assert post(grace, link).status_code == 303
    assert "Acme" in grace.get(f"/dashboard/w/{other_workspace}/").text  # the switcher lists both
    assert sorted(_roles(database, workspace_id).values()) == ["admin", "owner"]


def test_revoked_and_expired_invitations_do_not_open(browser, database):
    owner = browser()
    workspace_id = sign_up(owner)
    revoked = _link(_invite(owner, workspace_id, "a@example.com"))
    expired = _link(_invite(owner, workspace_id, "b@example.com"))
    with database.transaction(workspace_id) as session:
        invitation = session.scalars(select(Invitation).where(Invitation.email == "a@example.com")).one()
        session.execute(
            update(Invitation)
            .where(Invitation.email == "b@example.com")
            .values(expires_at=invitation.created_at - timedelta(seconds=1))
        )
    assert (
        post(
            owner,
            f"/dashboard/w/{workspace_id}/invitations/{invitation.id}/revoke",
            token_from=f"/dashboard/w/{workspace_id}/members",
        ).status_code
        == 303
    )
    for link in (revoked, expired):
        assert browser().get(link).status_code == 404
        assert (
            post(
                browser(),
                link,
                {"password": PASSWORD, "password_again": PASSWORD},
                token_from="/dashboard/login",
            ).status_code
            == 404
        )
    # An invitation link with another workspace's id finds nothing.
    other = sign_up(browser(), email="x@example.com", workspace="X")
    fresh = _link(_invite(owner, workspace_id, "c@example.com"))
    assert browser().get(fresh.replace(str(workspace_id), str(other))).status_code == 404


def test_admins_cannot_make_or_touch_owners(browser, database):
    owner_browser = browser()
    workspace_id = sign_up(owner_browser)
    admin = member_browser(browser, database, workspace_id, "admin")
    assert _invite(admin, workspace_id, "boss@example.com", "owner").status_code == 403
    owner_id = next(o for o, r in _roles(database, workspace_id).items() if r == "owner")
    members = f"/dashboard/w/{workspace_id}/members"
    assert (
        post(admin, f"{members}/{owner_id}/role", {"role": "viewer"}, token_from=members).status_code == 403
    )
    assert post(admin, f"{members}/{owner_id}/remove", token_from=members).status_code == 403
    assert _roles(database, workspace_id)[owner_id] == "owner"


def test_a_workspace_keeps_at_least_one_owner(browser, database):
    owner = browser()
    workspace_id = sign_up(owner)
    members = f"/dashboard/w/{workspace_id}/members"
    owner_id = next(iter(_roles(database, workspace_id)))
    assert post(owner, f"{members}/{owner_id}/role", {"role": "admin"}, token_from=members).status_code == 409
    assert post(owner, f"{members}/{owner_id}/remove", token_from=members).status_code == 409
    second = make_operator(database, "second@example.com", workspace_id, Role.owner)
    assert post(owner, f"{members}/{second}/role", {"role": "viewer"}, token_from=members).status_code == 303
    assert post(owner, f"{members}/{second}/remove", token_from=members).status_code == 303
    assert list(_roles(database, workspace_id).values()) == ["owner"]
