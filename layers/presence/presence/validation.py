"""Turn pydantic's validation errors into one sentence that names the field."""

from __future__ import annotations

from pydantic import ValidationError

_PHRASES = {
    "missing": "is required",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "extra_forbidden": "is not a known field",
    "not_null": "must not be null",
}


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def describe_validation_error(exc: ValidationError) -> str:
    """'userIDList[2] must be a string' for the first error pydantic found."""
    error = exc.errors()[0]
    path = field_path(tuple(error["loc"]))
    phrase = _PHRASES.get(error["type"])
    if phrase is None:
        return f"{path}: {error['msg']}"
    return f"{path} {phrase}"
