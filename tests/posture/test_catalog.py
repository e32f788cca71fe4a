from __future__ import annotations

from posture.checks.base import Area, Severity, registry
from posture.checks.catalog import render
from posture.management.commands.checks_doc import DOC_PATH


def test_checks_doc_up_to_date():
    assert DOC_PATH.read_text() == render(), "Run `python manage.py checks_doc` and commit docs/checks.md"


def test_catalog_lists_every_check():
    text = render()
    for check_id in registry():
        assert f"`{check_id}`" in text


def test_every_check_has_complete_metadata():
    for check_id, definition in registry().items():
        assert definition.area in Area.values, check_id
        assert definition.severity in Severity.values, check_id
        assert definition.title, check_id
        assert definition.decides, check_id
        assert definition.rationale, check_id
        assert definition.remediation.console and definition.remediation.cli, check_id


def test_registry_has_all_37_checks():
    assert len(registry()) == 37
