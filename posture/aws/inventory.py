"""What collectors hand to checks: one account's collected AWS data, with failed reads kept apart.

Collectors store each piece of data under a dotted key (`"ec2.security_groups"`) either as a value
or as a `ReadError`. A check that reads a key whose read failed gets `DataUnavailable`, which the
check runner turns into UNKNOWN results carrying the AWS error code. A read that failed for one
resource only (one bucket's logging configuration) is stored inside that resource's record as a
`ReadError`, so only that resource's result becomes UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

GLOBAL_REGION = "global"


@dataclass(frozen=True)
class ReadError:
    """A failed AWS read: the operation, the error code AWS (or the simulator) returned, and its message."""

    operation: str
    code: str
    message: str

    def describe(self) -> str:
        return f"{self.operation} failed with {self.code}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"operation": self.operation, "code": self.code, "message": self.message}


class DataUnavailable(Exception):
    """Raised when a check reads data whose read failed."""

    def __init__(self, key: str, region: str, error: ReadError) -> None:
        super().__init__(error.describe())
        self.key = key
        self.region = region
        self.error = error


@dataclass
class Inventory:
    """Collected data of one account in one region (or under "global" for account-wide services)."""

    region: str
    items: dict[str, Any] = field(default_factory=dict)
    # Items listed per key (list values only), stored with the account scan.
    listed: dict[str, int] = field(default_factory=dict)

    def put(self, key: str, value: Any) -> None:
        self.items[key] = value
        if isinstance(value, (list, tuple)):
            self.listed[key] = len(value)

    def fail(self, key: str, error: ReadError) -> None:
        self.items[key] = error

    def get(self, key: str) -> Any:
        """Return the value under `key`; raise DataUnavailable if its read failed."""
        try:
            value = self.items[key]
        except KeyError:
            raise DataUnavailable(
                key,
                self.region,
                ReadError(operation=key, code="NotCollected", message=f"{key} was not collected"),
            ) from None
        if isinstance(value, ReadError):
            raise DataUnavailable(key, self.region, value)
        return value

    def errors(self) -> Iterator[tuple[str, ReadError]]:
        for key, value in self.items.items():
            if isinstance(value, ReadError):
                yield key, value


@dataclass
class AccountData:
    """Everything collected for one account: the global inventory and one inventory per region."""

    account_id: str
    partition: str
    global_: Inventory
    regions: dict[str, Inventory]
    # Regions that could not be listed at all are absent from `regions`; the reason is kept here.
    region_errors: dict[str, ReadError] = field(default_factory=dict)

    def region_names(self) -> list[str]:
        return sorted(self.regions)
