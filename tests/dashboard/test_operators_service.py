from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.kit.errors import Conflict
from app.models import Operator
from app.operators import service


def test_a_racing_duplicate_email_is_a_conflict_and_the_transaction_survives(database, monkeypatch):
    with database.transaction() as session:
        service.create(session, email="ada@example.com", password="x" * 12)
        # As if another request inserted it between our check and our insert.
        monkeypatch.setattr(service, "find_by_email", lambda *_: None)
        with pytest.raises(Conflict) as refused:
            service.create(session, email="ADA@example.com", password="x" * 12)
        assert refused.value.field == "email"
        service.create(session, email="grace@example.com", password="x" * 12)  # still usable
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Operator)) == 2
