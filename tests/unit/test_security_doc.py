"""docs/security.md must say what the code does: its permission table is ``can``'s, and its
canonical-form example hashes as the audit chain does."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from govcloud.domain.audit import GENESIS_HASH, canonical_form
from govcloud.domain.rbac import Role, permissions_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_permission_table_is_generated_from_can() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- permissions:begin -->\n(.*?)<!-- permissions:end -->", text, re.S)
    assert match, "docs/security.md lost its permissions markers"
    assert match.group(1) == permissions_markdown(), (
        "docs/security.md is out of date: replace the table between the markers with the output "
        "of `python -c 'from govcloud.domain.rbac import permissions_markdown; "
        "print(permissions_markdown())'`")


def test_every_role_is_described() -> None:
    text = DOC.read_text(encoding="utf-8")
    for role in Role:
        assert f"| `{role.value}` |" in text


def test_the_canonical_form_example_is_what_the_chain_hashes() -> None:
    example = canonical_form(seq=1, at=datetime(2026, 12, 1, 8, tzinfo=UTC), actor="admin",
                             action="principal.add", target="principal:li.wei", before=None,
                             after={"role": "operator", "名": "李伟"}, prev_hash=GENESIS_HASH)
    assert f"\n{example}\n" in DOC.read_text(encoding="utf-8")
