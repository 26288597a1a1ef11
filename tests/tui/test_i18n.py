"""Every label the console asks for exists in both languages (issue 17: the zh console left
views, footer keys and the overview's what-if lines in English, because ``label`` falls
back to the key and a literal English string never reaches the catalogue at all)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from tui import i18n
from tui.format import fit

TUI = Path(i18n.__file__).resolve().parent
SOURCES = sorted(TUI.rglob("*.py"))


def _calls(name: str) -> list[tuple[Path, int, str]]:
    """Every ``name("literal", ...)`` in the console's sources."""
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == name and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                out.append((path, node.lineno, node.args[0].value))
    return out


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_label_used_is_in_the_catalogue_in_both_languages() -> None:
    used = _calls("label")
    assert len(used) > 100  # the walk finds the views' labels
    missing = [f"{p.name}:{line} {key!r}" for p, line, key in used if key not in i18n._LABELS]
    assert not missing, missing
    for key, (en, zh) in i18n._LABELS.items():
        assert en and zh, key
        assert _fields(en) == _fields(zh), key  # the same {placeholders} in both


def test_labels_that_read_the_same_in_both_are_few_and_deliberate() -> None:
    same = {k for k, (en, zh) in i18n._LABELS.items() if en == zh}
    assert same <= {"vcpu", "name_zh", "lost_vcpu"}, same


def test_every_key_the_footer_shows_has_a_chinese_description() -> None:
    """The bindings' descriptions (``Binding(key, action, description)``) of every screen."""
    described = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Binding":
                args = node.args
                shown = not any(k.arg == "show" and isinstance(k.value, ast.Constant)
                                and k.value.value is False for k in node.keywords)
                if len(args) >= 3 and isinstance(args[2], ast.Constant) and shown:
                    described.add(args[2].value)
    assert {"approve", "reject", "drill in", "filter", "back"} <= described
    missing = sorted(d for d in described if i18n.key_label(d, "zh") == d)
    assert not missing, missing


@pytest.mark.parametrize("key", ["dr", "dept", "count", "site", "state", "status"])
def test_a_chinese_column_label_is_not_cut(key: str) -> None:
    """The table widens a column to its label: "灾备" in a column sized for "DR"."""
    from tui.widgets.table import Column, VirtualTable

    table = VirtualTable([Column(key, i18n.label(key, "zh"), 3)])
    assert table._header_text().strip() == i18n.label(key, "zh")
    assert "…" not in fit(i18n.label(key, "zh"), table.columns[0].width)
