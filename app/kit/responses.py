"""JSON responses: rendered by orjson (fast, handles UUID and datetime), or by a response model."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """A route's answer rendered by its own model: what FastAPI would send for ``response_model``,
    without validating the model a second time (and, for a sync route, in a thread of its own)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
