"""Helpers shared by the collectors: error capture and pagination."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from posture.aws.inventory import Inventory, ReadError

logger = logging.getLogger(__name__)


def read_error(operation: str, exc: BaseException) -> ReadError:
    """Describe a failed read. Never includes request parameters, so no credential can leak."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code") or (f"HTTP{status}" if status else "ClientError")
        return ReadError(operation=operation, code=str(code), message=str(error.get("Message") or exc))
    if isinstance(exc, NotImplementedError):
        return ReadError(
            operation=operation,
            code="NotImplemented",
            message="The endpoint does not implement this operation.",
        )
    if isinstance(exc, BotoCoreError):
        return ReadError(operation=operation, code=type(exc).__name__, message=str(exc))
    logger.exception("Unexpected error in %s", operation)
    return ReadError(operation=operation, code=type(exc).__name__, message=str(exc) or repr(exc))


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def safe_put(inventory: Inventory, key: str, operation: str, func: Callable[[], Any]) -> bool:
    """Store `func()` under `key`, or the ReadError if it raised. Return whether the read worked."""
    try:
        value = func()
    except Exception as exc:  # noqa: BLE001 - any failure becomes UNKNOWN for the checks that need it
        error = read_error(operation, exc)
        logger.warning("%s in %s: %s", operation, inventory.region, error.code)
        inventory.fail(key, error)
        return False
    inventory.put(key, value)
    return True


def paginate(client, operation: str, result_key: str, **kwargs: Any) -> list[Any]:
    """Return every item of a list call, through the boto3 paginator when the operation pages."""
    if client.can_paginate(operation):
        items: list[Any] = []
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(result_key, []))
        return items
    return list(getattr(client, operation)(**kwargs).get(result_key, []))


def try_read(operation: str, func: Callable[[], Any], *, absent: tuple[str, ...] = ()) -> Any:
    """Call `func` for one resource's detail; return its value, None for a documented "absent"
    error code, or a ReadError for any other failure."""
    try:
        return func()
    except Exception as exc:  # noqa: BLE001 - recorded per resource, the scan goes on
        if absent and error_code(exc) in absent:
            return None
        return read_error(operation, exc)
