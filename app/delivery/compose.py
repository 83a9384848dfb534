"""A chunk's messages: each variant compiled once, the built-ins its templates read loaded
for every user in one query, then rendered per user (with signed links for email)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy.orm import Session

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.delivery import ledger
from app.delivery.recipients import category
from app.journeys.sends import entry_events, is_journey_campaign
from app.kit.errors import Invalid
from app.models import Campaign, DeliveryStatus, Send
from app.templating.compiler import Needs, RenderFailed, RenderTimedOut
from app.templating.content import CompiledContent, compile_content
from app.templating.context import UserFacts, load_events, load_facts, render_context
from app.tracking.links import LinkTarget, TrackingLinks

# Renders of one variant allowed to time out in a chunk before its other users are put back
# unrendered: a runaway template would otherwise cost a render deadline per recipient, and a
# chunk of them would outlive its lease.
TIMEOUTS_PER_VARIANT = 3


@dataclass(slots=True)
class Pending:
    """A claimed row that passed every rule: its user, variant and addresses."""

    row: ledger.Claimed
    user: ledger.Recipient
    variant: str
    addresses: list[dict[str, Any]]


@dataclass
class ChunkContent:
    """A chunk's compiled variants, the built-ins its templates read, and the triggering
    events of triggered deliveries (by event id)."""

    variants: dict[str, CompiledContent | Invalid]
    facts: dict[uuid.UUID, UserFacts]
    events: dict[uuid.UUID, dict[str, Any]]  # by user: a journey's entry event or the triggering one


def compile_chunk(session: Session, campaign: Campaign, send: Send, pending: list[Pending]) -> ChunkContent:
    """Each variant the chunk uses, compiled once; the built-ins they read, for every user."""
    variants: dict[str, CompiledContent | Invalid] = {}
    used = {p.variant for p in pending}
    for variant in campaign.variants:
        if variant["key"] in used:
            try:
                variants[variant["key"]] = _compiled(orjson.dumps(variant["content"]))
            except Invalid as exc:  # saved before a stricter check: fails its rows, not the chunk
                variants[variant["key"]] = exc
    needs = Needs()
    for compiled in variants.values():
        if isinstance(compiled, CompiledContent):
            needs = needs | compiled.needs
    facts = load_facts(session, [p.row.user_id for p in pending], needs)
    return ChunkContent(variants, facts, _events(session, campaign, send, pending))


@lru_cache(maxsize=256)
def _compiled(content: bytes) -> CompiledContent:
    """A variant's content compiled once per process, not once per chunk (a millisecond or two
    of Jinja each time). Keyed by the content itself, so an edited variant compiles anew."""
    return compile_content(orjson.loads(content))


def _events(
    session: Session, campaign: Campaign, send: Send, pending: list[Pending]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each user's ``event``: a journey's entry event, or the event that triggered the delivery."""
    if is_journey_campaign(campaign):
        return entry_events(session, campaign, send, [p.row.user_id for p in pending])
    by_id = load_events(session, [p.row.event_id for p in pending if p.row.event_id is not None])
    return {p.row.user_id: by_id[p.row.event_id] for p in pending if p.row.event_id in by_id}


def messages(
    campaign: Campaign,
    workspace_id: uuid.UUID,
    workspace_zone: str,
    pending: list[Pending],
    content: ChunkContent,
    links: TrackingLinks | None,
) -> tuple[list[OutboundMessage], list[SendResult], list[ledger.Outcome]]:
    """The messages to send; renders that timed out (retried like a busy provider, and so
    failed after the last attempt); renders that failed for good."""
    topic = category(campaign)
    channel, name = campaign.channel, campaign.name  # read once, not per row (ORM attributes)
    found: list[OutboundMessage] = []
    timed_out: list[SendResult] = []
    failures: list[ledger.Outcome] = []
    timeouts: Counter[str] = Counter()
    last_timeout: dict[str, str] = {}
    for p in pending:
        compiled = content.variants[p.variant]
        if timeouts[p.variant] >= TIMEOUTS_PER_VARIANT:
            timed_out.append(SendResult(p.row.id, Outcome.retry, error=last_timeout[p.variant]))
            continue
        try:
            if isinstance(compiled, Invalid):
                raise RenderFailed(f"{compiled.field}: {compiled}")
            target_links = None
            if links is not None:
                target = LinkTarget(workspace_id, p.row.user_id, p.row.id, channel, topic)
                target_links = links.template_links(target)
            context = render_context(
                p.user,
                facts=content.facts.get(p.row.user_id),
                event=content.events.get(p.row.user_id),
                workspace_zone=workspace_zone,
                links=target_links,
            )
            context["campaign"] = {"name": name}
            rendered = compiled.render(context)
        except RenderTimedOut as exc:
            timeouts[p.variant] += 1
            last_timeout[p.variant] = f"render: {exc} (variant {p.variant})"
            timed_out.append(SendResult(p.row.id, Outcome.retry, error=last_timeout[p.variant]))
            continue
        except RenderFailed as exc:  # one user's data broke a template: only their delivery fails
            failures.append(
                ledger.Outcome(p.row.id, DeliveryStatus.failed, variant=p.variant, error=f"render: {exc}")
            )
            continue
        for address in p.addresses:
            found.append(
                OutboundMessage(
                    delivery_id=p.row.id,
                    workspace_id=workspace_id,
                    user_id=p.row.user_id,
                    channel=channel,
                    address=address,
                    content=rendered,
                )
            )
    return found, timed_out, failures
