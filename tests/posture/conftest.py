"""Users in each role for the view tests. A module that needs another user defines its own fixture."""

from __future__ import annotations

import pytest

from accounts.roles import ADMIN, ANALYST, VIEWER
from tests.factories import UserFactory


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer", roles=[VIEWER])


@pytest.fixture
def analyst(db):
    return UserFactory(username="analyst", roles=[ANALYST])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin1", roles=[ADMIN])
