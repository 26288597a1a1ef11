"""docs/metrics.md lists every metric family with its type and labels, every alert rule has
a row there, and every runbook anchor the rules name is a heading of the document."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from govcloud.domain.metrics import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")


def test_every_family_is_documented_with_its_labels() -> None:
    for f in FAMILIES:
        labels = ", ".join(f"`{label}`" for label in f.labels) or "—"
        assert f"| `{f.name}` | {f.kind} | {labels} |" in DOC, f.name
    documented = set(re.findall(r"^\| `(govcloud_[a-z_]+)` \|", DOC, re.M))
    assert documented == {f.name for f in FAMILIES}


def test_every_alert_and_runbook_anchor_is_documented() -> None:
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", DOC, re.M)}
    for path in sorted((ROOT / "monitors" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert f"`{rule['alert']}" in DOC, rule["alert"]
                for anchor in re.findall(r"docs/metrics\.md#([a-z-]+)",
                                         rule["annotations"]["runbook"]):
                    assert anchor in anchors, (rule["alert"], anchor)
