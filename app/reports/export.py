"""Any report as JSON or CSV. A report is named sections of flat rows (plus scalar facts);
CSV writes every section's rows under one header, the section named in the first column."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import Request
from starlette.responses import Response

from app.kit.responses import JsonResponse

Report = dict[str, Any]
# For the OpenAPI document: every report answers in either form.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}
}


def wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _rows(report: Report, section: str = "summary") -> list[dict[str, Any]]:
    facts = {k: v for k, v in report.items() if not isinstance(v, list | dict)}
    rows: list[dict[str, Any]] = [{"section": section, **facts}] if facts else []
    for name, value in report.items():
        inner = name if section == "summary" else f"{section}.{name}"
        if isinstance(value, dict):
            rows.extend(_rows(value, inner))
        elif isinstance(value, list):
            rows.extend({"section": inner, **row} for row in value)
    return rows


def to_csv(report: Report) -> str:
    rows = _rows(report)
    header: dict[str, None] = {"section": None}
    for row in rows:
        header.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def respond(request: Request, report: Report, format: str | None, filename: str) -> Response:
    if wants_csv(request, format):
        headers = {"Content-Disposition": f'attachment; filename="{filename}.csv"'}
        return Response(to_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
    return JsonResponse(report)
