"""Render the check registry as Markdown (docs/checks.md), so the docs cannot drift from the code."""

from __future__ import annotations

from posture.checks.base import SEVERITY_WEIGHTS, Area, registry

HEADER = """# Checks

Generated from the check registry by `python manage.py checks_doc`; do not edit by hand (a test
fails when this file is out of date).

Statuses: PASS, FAIL, UNKNOWN (the scanner could not decide; the AWS error is stored) and
NOT_APPLICABLE (nothing of that kind to judge). Weights by severity: critical 8, high 4, medium 2,
low 1. Thresholds are the defaults; the values in force are stored with every scan and finding.
"""


def _thresholds(definition) -> str:
    if not definition.thresholds:
        return "none"
    return "; ".join(
        f"`{t.name}` = {t.default!r} {t.unit} ({t.description})".replace("|", "\\|")
        for t in definition.thresholds
    )


def render() -> str:
    definitions = registry()
    lines = [HEADER]
    for area in Area:
        in_area = [d for d in definitions.values() if d.area == area]
        if not in_area:
            continue
        lines.append(f"## {area.label}\n")
        lines.append("| id | severity (weight) | resource | decides | thresholds |")
        lines.append("| --- | --- | --- | --- | --- |")
        for d in sorted(in_area, key=lambda d: d.id):
            decides = d.decides.replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| `{d.id}` | {d.severity} ({SEVERITY_WEIGHTS[d.severity]}) | {d.resource_type} "
                f"| {decides} | {_thresholds(d)} |"
            )
        lines.append("")
    lines.append(f"{len(definitions)} checks in all.\n")
    return "\n".join(lines)
