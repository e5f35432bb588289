"""JSON answers and errors of the web API: one JSON rendering (numpy scalars, no NaN), one
error shape ``{"error": message}``, the messages for bad form fields and JSON syntax."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from fashion.io_utils import json_default

# ---------------------------------------------------------------------------------------------
# JSON answers and errors


class JSON(JSONResponse):
    """JSON rendered like ``recommend.py --json`` (numpy scalars, no NaN), UTF-8, compact."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, default=json_default,
                          separators=(",", ":")).encode("utf-8")


class ApiError(HTTPException):
    """A refused request: HTTP status and a message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status_code=status, detail=message)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSON:
    return JSON({"error": message}, status_code=status, headers=headers)


def _image_error_status(cause: str) -> int:
    """HTTP status for an :class:`~fashion.data.images.ImageLoadError` cause."""
    if cause.startswith("not an image"):
        return 415
    if cause.startswith("image too large"):
        return 413
    if cause.startswith(("too small", "one flat colour")):
        return 422  # a good image file that shows nothing to recognise
    return 400  # empty file, truncated image, unreadable


# Form fields named by prefix rather than declared one by one: w_<component> (see _component_fields).
PREFIXED_FORM_FIELDS = ("w_",)


async def refuse_unknown_parameters(request: Request) -> None:
    """Every API route's dependency: a query parameter or form field the route does not declare is
    a 400 naming it and the ones it takes. A misspelt ``?topk=3`` or a ``q=blue`` sent with a photo
    was silently ignored, and the shopper got an answer to a question they had not asked. The page
    (``/``, not in the schema) takes whatever a browser appends."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not getattr(route, "include_in_schema", True):
        return
    known_query = {param.alias for param in dependant.query_params}
    unknown = [name for name in request.query_params.keys() if name not in known_query]
    where = "query parameter"
    if not unknown and request.headers.get("content-type", "").startswith(("multipart/form-data",
                                                                         "application/x-www-form-urlencoded")):
        known_form = {param.alias for param in dependant.body_params}
        unknown = [name for name in (await request.form()).keys()
                   if name not in known_form and not name.startswith(PREFIXED_FORM_FIELDS)]
        known_query, where = known_form | {f"{prefix}<component>" for prefix in PREFIXED_FORM_FIELDS}, "form field"
    if unknown:
        names = ", ".join(repr(name[:40]) for name in dict.fromkeys(unknown))
        takes = ", ".join(sorted(known_query)) or "none"
        raise ApiError(400, f"unknown {where}(s) {names}; {request.url.path[:100]} takes: {takes}")


def _component_fields(form: Any) -> dict[str, float]:
    """The ``w_<component>`` fields of a form as ``{component: weight}`` (each a number >= 0; a
    ``w_`` field naming no registered component is an error listing them)."""
    from fashion.recommend.components import component_names

    names = component_names()
    out: dict[str, float] = {}
    for field_name in form.keys():
        if not field_name.startswith("w_"):
            continue
        name = field_name[2:]
        if name not in names:
            raise ApiError(422, f"invalid request: {field_name[:40]}: no score component {name[:32]!r} "
                                f"(registered: {', '.join(names)})")
        text = form.get(field_name)
        try:
            value = float(text) if isinstance(text, str) and text.strip() else None
        except ValueError:
            value = None
        shown = repr(text[:40]) if isinstance(text, str) else "a file"
        if value is None or not math.isfinite(value):
            raise ApiError(422, f"invalid request: {field_name}: must be a finite number, got {shown}")
        if value < 0:
            raise ApiError(422, f"invalid request: {field_name}: must be greater than or equal to 0, got {shown}")
        out[name] = value
    return out


async def _json_syntax_message(request: Request, item: dict) -> str:
    """``invalid JSON at line L, column C: <what json says>`` for a body that does not parse."""
    import json

    cause = str((item.get("ctx") or {}).get("error") or "not valid JSON")
    try:
        body = (await request.body()).decode("utf-8", "replace")
        json.loads(body)
    except json.JSONDecodeError as error:
        return f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
    except Exception:  # noqa: BLE001 - the body is gone: report what FastAPI saw
        pass
    location = [p for p in item.get("loc", ()) if p != "body"]
    where = f" at character {location[0]}" if location and isinstance(location[0], int) else ""
    return f"invalid JSON{where}: {cause}"


def _validation_message(error: RequestValidationError) -> str:
    """``field: problem; ...`` without echoing the request's values."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{location or 'request'}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts[:5])
