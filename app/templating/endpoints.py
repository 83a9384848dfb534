from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import SecretKey
from app.kit.errors import Invalid
from app.kit.session import DbSession
from app.kit.validators import ExternalId
from app.templating.compiler import RenderFailed
from app.templating.content import compile_content
from app.templating.context import load_facts, render_context
from app.users.service import get as get_user
from app.workspaces.service import get as get_workspace

router = APIRouter(prefix="/v1/content", tags=["content"])


class ContentCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: dict[str, Any] = Field(description="Any channel's content; every string is a template")


class ContentPreview(ContentCheck):
    external_id: ExternalId
    event: dict[str, Any] | None = Field(
        default=None, description="For triggered sends: name, timestamp (ISO 8601), properties"
    )


class RenderedContent(BaseModel):
    content: dict[str, Any]


@router.post("/validate", response_model=ContentCheck, summary="Check every template in a content")
def validate_content(body: ContentCheck, _auth: SecretKey) -> ContentCheck:
    compile_content(body.content)
    return body


@router.post("/preview", response_model=RenderedContent, summary="Render a content for one user")
def preview(body: ContentPreview, session: DbSession, auth: SecretKey) -> RenderedContent:
    compiled = compile_content(body.content)
    user = get_user(session, body.external_id)
    facts = load_facts(session, [user.id], compiled.needs).get(user.id)
    zone = get_workspace(session, auth.workspace_id).timezone
    try:
        rendered = compiled.render(render_context(user, facts=facts, event=body.event, workspace_zone=zone))
    except RenderFailed as exc:
        raise Invalid(f"the content cannot be rendered for this user: {exc}", field="content") from None
    return RenderedContent(content=rendered)
