from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import AnyKey, SecretKey
from app.auth.service import AuthContext
from app.idempotency import service as idempotency
from app.idempotency.dependencies import Idempotent
from app.kit.errors import Invalid
from app.kit.responses import JsonResponse, model_response
from app.kit.session import DbSession
from app.kit.unit_of_work import unit_of_work
from app.kit.validators import ExternalId, Text, storable_text
from app.users import service
from app.users.schemas import ErasureOut, UserOut, UserPage, UserReceipt, UserUpsert, UserUpsertWithId

router = APIRouter(prefix="/v1/users", tags=["users"])

ExternalIdPath = Annotated[ExternalId, Path(description="The app's own id for the user")]


_UPSERT_DESCRIPTION = (
    "Answers 201 when the user is new, 200 otherwise. A secret key gets the whole profile back; "
    "a publishable key (shipped inside apps) only a receipt, so it can identify but never read."
)


@router.put(
    "/{external_id}",
    response_model=UserOut | UserReceipt,
    summary="Create or update a user (partial merge)",
    description=_UPSERT_DESCRIPTION,
    responses={201: {"model": UserOut | UserReceipt, "description": "Created"}},
)
async def upsert_user(
    external_id: ExternalIdPath, body: UserUpsert, request: Request, auth: AnyKey
) -> Response:
    return await _upsert(request, auth, external_id, body)


@router.post(
    "",
    response_model=UserOut | UserReceipt,
    status_code=200,
    dependencies=[Idempotent],
    summary="Create or update a user, with external_id in the body",
    description=_UPSERT_DESCRIPTION,
)
async def upsert_user_body(body: UserUpsertWithId, request: Request, auth: AnyKey) -> Response:
    return await _upsert(request, auth, body.external_id, body)


async def _upsert(request: Request, auth: AuthContext, external_id: str, body: UserUpsert) -> Response:
    def store(session: Session) -> Response:
        user, created = service.upsert(
            session,
            external_id,
            profile=body.reserved_changes(),
            changes=body.attribute_changes(),
            subscriptions=body.subscriptions,
        )
        answer = UserOut.model_validate(user) if auth.is_secret else UserReceipt(external_id=user.external_id)
        return model_response(answer, status_code=201 if created else 200)

    return await unit_of_work(request).respond_and_settle(store)


@router.get("/{external_id}", response_model=UserOut, summary="Get a user")
def get_user(external_id: ExternalIdPath, session: DbSession, _auth: SecretKey) -> UserOut:
    return UserOut.model_validate(service.get(session, external_id))


@router.get(
    "",
    response_model=UserPage,
    summary="List users",
    description="Cursor-paged, oldest first. Filter by reserved fields (`email`, `country`, "
    "`timezone`, `locale`) and by attributes with `attr.NAME=VALUE` (compares the value's text).",
)
def list_users(
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    email: Annotated[Text | None, Query(max_length=320)] = None,
    country: Annotated[Text | None, Query(max_length=2)] = None,
    timezone: Annotated[Text | None, Query(max_length=64)] = None,
    locale: Annotated[Text | None, Query(max_length=35)] = None,
) -> UserPage:
    given = {"email": email, "country": country, "timezone": timezone, "locale": locale}
    filters = {name: value for name, value in given.items() if value is not None}
    attribute_filters = {
        key.removeprefix("attr."): _filter_value(key, value)
        for key, value in request.query_params.items()
        if key.startswith("attr.")
    }
    users, next_cursor = service.list_users(
        session, limit=limit, cursor=cursor, filters=filters, attribute_filters=attribute_filters
    )
    return UserPage(data=[UserOut.model_validate(u) for u in users], next_cursor=next_cursor)


def _filter_value(param: str, value: str) -> str:
    try:
        return storable_text(value)
    except ValueError as exc:
        raise Invalid(str(exc), field=param) from None


@router.get(
    "/{external_id}/export",
    summary="Everything stored about a user (GDPR access request)",
    response_model=dict[str, Any],
)
def export_user(external_id: ExternalIdPath, session: DbSession, _auth: SecretKey) -> JsonResponse:
    return JsonResponse(service.export(session, external_id))


def _answer_prefix(external_id: str) -> bytes:
    """How every upsert answer about this user begins: UserOut and UserReceipt both lead with
    ``external_id`` (up to its closing quote, so "ann" does not match "anna")."""
    return UserReceipt(external_id=external_id).model_dump_json().encode().removesuffix(b"}")


@router.delete("/{external_id}", response_model=ErasureOut, summary="Erase a user and everything about them")
def delete_user(external_id: ExternalIdPath, session: DbSession, _auth: SecretKey) -> ErasureOut:
    events, devices = service.erase(session, external_id)
    idempotency.forget_answers_starting(session, _answer_prefix(external_id))
    return ErasureOut(external_id=external_id, erased=True, events=events, devices=devices)
