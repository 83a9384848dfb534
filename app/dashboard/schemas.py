"""The dashboard's forms."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints, field_validator

from app.kit.validators import Email, TimeZoneName
from app.models import KeyKind, Role
from app.operators.passwords import MAX_LENGTH, MIN_LENGTH

Password = Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH)]
Name = Annotated[str, StringConstraints(max_length=200)]
WorkspaceName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SignIn(BaseModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: AnyPassword


class NewPassword(BaseModel):
    password: Password
    password_again: AnyPassword

    @field_validator("password_again")
    @classmethod
    def _same(cls, value: str, info) -> str:  # type: ignore[no-untyped-def]
        if value != info.data.get("password"):
            raise ValueError("the two passwords differ")
        return value


class Account(NewPassword):
    email: Email
    name: Name = ""


class SignUp(Account):
    workspace_name: WorkspaceName
    timezone: TimeZoneName = "UTC"


class Forgot(BaseModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]


class WorkspaceForm(BaseModel):
    name: WorkspaceName
    timezone: TimeZoneName = "UTC"


class NewKey(BaseModel):
    name: Name = ""
    kind: KeyKind = KeyKind.secret


class Invite(BaseModel):
    email: Email
    role: Role


class RoleChange(BaseModel):
    role: Role
