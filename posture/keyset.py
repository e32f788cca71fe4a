"""Keyset pagination: pages that start after (or end before) the sort key values of a known row.

A page is fetched with `WHERE (sort keys) > (values of the last row seen) ORDER BY sort keys LIMIT n`,
so reaching page 500 costs the same as page 1: there is no OFFSET to skip and no total count. The
cursor in the URL is the sort key values of that row, encoded as URL-safe base64 JSON. It is opaque
to users but not signed: a hand-edited cursor only moves the start of the page, and one that does
not decode is rejected with `InvalidCursor`.

The last key of every ordering must be unique (the primary key), so no two rows tie and no row is
skipped or repeated between pages. Nullable keys sort as if NULL were larger than every value, the
PostgreSQL default: last when ascending, first when descending.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import BooleanField, Expression, F, Model, Q, QuerySet, Value
from django.db.models.expressions import OrderBy

# Databases whose row-value comparisons can start an index scan at the cursor. Others get the
# expanded OR form, which gives the same rows.
ROW_VALUE_VENDORS = frozenset({"postgresql", "sqlite"})
# Page numbers are only displayed, never used to query, so this just bounds a hand-edited cursor.
MAX_PAGE_NUMBER = 10_000_000


class InvalidCursor(ValueError):
    """A cursor that does not decode, or that belongs to another sort order."""


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering: a field or annotation name on the queryset and its Python type."""

    name: str
    kind: type  # int, str or dt.datetime: what a cursor value must decode to
    nullable: bool = False


@dataclass(frozen=True)
class Ordering:
    """Sort keys applied in one direction. The last key must be unique, such as the primary key."""

    keys: tuple[SortKey, ...]
    descending: bool = False

    def reversed(self) -> Ordering:
        return Ordering(self.keys, not self.descending)

    def order_by(self) -> list[OrderBy]:
        expressions = []
        for key in self.keys:
            expression = F(key.name)
            # Stating the NULLS placement only for nullable keys keeps plain ORDER BY clauses, which
            # an ordinary index can serve.
            if self.descending:
                expressions.append(expression.desc(nulls_first=True if key.nullable else None))
            else:
                expressions.append(expression.asc(nulls_last=True if key.nullable else None))
        return expressions

    def after(self, values: Sequence[Any], *, row_values: bool = False) -> Q | RowComparison:
        """Return the condition that keeps the rows that come strictly after `values` in this order.

        With `row_values`, and no nullable key, the condition is one row-value comparison such as
        `(a, b, id) > (x, y, z)`, which a composite index serves as a single range even when many
        rows tie on `a`. Otherwise it is the equivalent OR of per-key comparisons.
        """
        if row_values and not any(key.nullable for key in self.keys):
            columns = [F(key.name) for key in self.keys]
            return RowComparison(columns, values, "<" if self.descending else ">")
        branches: list[Q] = []
        equal_so_far = Q()
        for key, value in zip(self.keys, values, strict=True):
            beyond = self._beyond(key, value)
            if beyond is not None:
                branches.append(equal_so_far & beyond)
            equal_so_far &= _equal(key, value)
        # The last key is the primary key, which is never NULL, so there is at least one branch.
        condition = branches[0]
        for branch in branches[1:]:
            condition |= branch
        first_key, first_value = self.keys[0], values[0]
        if first_key.nullable:
            return condition
        # Redundant with the branches, but a plain range on the leading key lets the database
        # start an index scan at the cursor instead of filtering every earlier row.
        bound = f"{first_key.name}__{'lte' if self.descending else 'gte'}"
        return Q(**{bound: first_value}) & condition

    def _beyond(self, key: SortKey, value: Any) -> Q | None:
        """Return the rows whose `key` sorts strictly after `value`, or None when no value can."""
        if value is None:
            # NULL is the largest value: nothing is beyond it ascending, every value is descending.
            return Q(**{f"{key.name}__isnull": False}) if self.descending else None
        lookup = "lt" if self.descending else "gt"
        beyond = Q(**{f"{key.name}__{lookup}": value})
        if key.nullable and not self.descending:
            beyond |= Q(**{f"{key.name}__isnull": True})
        return beyond


class RowComparison(Expression):
    """A row-value comparison, `(a, b, c) > (x, y, z)`, usable as a filter() condition."""

    conditional = True

    def __init__(self, columns: Sequence[Any], values: Sequence[Any], operator: str) -> None:
        super().__init__(output_field=BooleanField())
        self.columns = list(columns)
        self.values = [Value(value) for value in values]
        self.operator = operator

    def get_source_expressions(self) -> list[Any]:
        return [*self.columns, *self.values]

    def set_source_expressions(self, expressions: Sequence[Any]) -> None:
        self.columns = list(expressions[: len(self.columns)])
        self.values = list(expressions[len(self.columns) :])

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        params: list[Any] = []
        rows = []
        for side in (self.columns, self.values):
            parts = []
            for expression in side:
                sql, expression_params = compiler.compile(expression)
                parts.append(sql)
                params.extend(expression_params)
            rows.append(f"({', '.join(parts)})")
        return f"{rows[0]} {self.operator} {rows[1]}", params


def _equal(key: SortKey, value: Any) -> Q:
    if value is None:
        return Q(**{f"{key.name}__isnull": True})
    return Q(**{key.name: value})


@dataclass(frozen=True)
class Cursor:
    """The sort key values of one row, the sort they belong to, and the number of the page they lead to."""

    sort: str
    values: tuple[Any, ...]
    page: int

    def encode(self) -> str:
        payload = {"s": self.sort, "v": [_dump_value(v) for v in self.values], "p": self.page}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, sort: str, ordering: Ordering) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidCursor("The page link is damaged; showing the first page.") from None
        if not isinstance(payload, dict):
            raise InvalidCursor("The page link is damaged; showing the first page.")
        if payload.get("s") != sort:
            raise InvalidCursor("The page link belongs to another sort order; showing the first page.")
        raw_values, page = payload.get("v"), payload.get("p")
        if not isinstance(raw_values, list) or len(raw_values) != len(ordering.keys):
            raise InvalidCursor("The page link is damaged; showing the first page.")
        if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE_NUMBER:
            raise InvalidCursor("The page link is damaged; showing the first page.")
        values = tuple(_load_value(key, value) for key, value in zip(ordering.keys, raw_values, strict=True))
        return cls(sort=sort, values=values, page=page)


def _dump_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _load_value(key: SortKey, value: Any) -> Any:
    if value is None:
        if key.nullable:
            return None
        raise InvalidCursor("The page link is damaged; showing the first page.")
    if key.kind is dt.datetime:
        try:
            loaded = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            loaded = None
        if loaded is None or loaded.tzinfo is None:
            raise InvalidCursor("The page link is damaged; showing the first page.")
        return loaded
    if key.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidCursor("The page link is damaged; showing the first page.")
    if key.kind is str and not isinstance(value, str):
        raise InvalidCursor("The page link is damaged; showing the first page.")
    return value


@dataclass(frozen=True)
class KeysetPage:
    """One page of rows and the cursors of its neighbours (None where there is no neighbour)."""

    rows: list[Model]
    number: int
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None


def keyset_page(
    queryset: QuerySet,
    *,
    ordering: Ordering,
    sort: str,
    size: int,
    after: str = "",
    before: str = "",
) -> KeysetPage:
    """Return the page of `queryset` that follows the `after` cursor, precedes `before`, or comes first.

    `queryset` must carry every sort key as a field or annotation. Raises InvalidCursor for a cursor
    that does not decode or was made for another `sort`. Each call runs one query, or two when a
    previous page turns out to be the first page.
    """
    row_values = connections[queryset.db].vendor in ROW_VALUE_VENDORS
    if after:
        cursor = Cursor.decode(after, sort=sort, ordering=ordering)
        condition = ordering.after(cursor.values, row_values=row_values)
        rows = list(queryset.filter(condition).order_by(*ordering.order_by())[: size + 1])
        number = max(cursor.page, 2)
        return _page(rows[:size], ordering, sort=sort, number=number, has_next=len(rows) > size, first=False)
    if before:
        cursor = Cursor.decode(before, sort=sort, ordering=ordering)
        backwards = ordering.reversed()
        condition = backwards.after(cursor.values, row_values=row_values)
        rows = list(queryset.filter(condition).order_by(*backwards.order_by())[: size + 1])
        if len(rows) > size:
            rows = rows[:size]
            rows.reverse()
            return _page(rows, ordering, sort=sort, number=max(cursor.page, 2), has_next=True, first=False)
        # Fewer rows than a page before the cursor: this is the start, so show a full first page.
    rows = list(queryset.order_by(*ordering.order_by())[: size + 1])
    return _page(rows[:size], ordering, sort=sort, number=1, has_next=len(rows) > size, first=True)


def _page(
    rows: list[Model], ordering: Ordering, *, sort: str, number: int, has_next: bool, first: bool
) -> KeysetPage:
    next_cursor = previous_cursor = None
    if rows and has_next:
        next_cursor = Cursor(sort, _values_of(rows[-1], ordering), number + 1).encode()
    if rows and not first:
        previous_cursor = Cursor(sort, _values_of(rows[0], ordering), number - 1).encode()
    return KeysetPage(rows=rows, number=number, next_cursor=next_cursor, previous_cursor=previous_cursor)


def _values_of(row: Model, ordering: Ordering) -> tuple[Any, ...]:
    return tuple(getattr(row, key.name) for key in ordering.keys)
