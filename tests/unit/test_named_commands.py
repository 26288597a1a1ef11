"""Every `govcloud ...` command a message, a hint or a page names exists (issue 17 item 9: a
conflict hint told the admin to run `govcloud principals rotate`, which did not exist yet).

The text scanned: the string literals of govcloud, tui and monitors (errors, hints, help, the
console's footers) and the docs. A command is checked word by word against the CLI's own
parser (``govcloud sim`` against the simulator's): each word where the parser has subcommands
must be one of them, and each ``--option`` must be one the command takes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from govcloud.cli import build_parser
from govcloud.sim.cli import _parser as sim_parser

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md",
                  *[p for tree in ("govcloud", "tui", "monitors") for p in
                    (ROOT / tree).rglob("*.py")]])
# "govcloud" and the words after it; only those whose first word is a command are checked,
# so prose ("govcloud reads the cloud") is left alone
MENTION = re.compile(r"\bgovcloud((?: (?:--)?[a-z][a-z0-9-]*)+)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def unknown_part(mention: str, root: argparse.ArgumentParser) -> str | None:
    """The words of ``mention`` up to the first one ``root`` would refuse, or None when all
    are right (or the mention is not a command at all)."""
    words = mention.split()
    if words[0] not in _subcommands(root):
        return None
    parser = root
    for i, word in enumerate(words):
        if word == "sim" and parser is root:
            parser = sim_parser()
            continue
        if word.startswith("--"):
            if word not in parser._option_string_actions:
                return " ".join(words[:i + 1])
            continue
        choices = _subcommands(parser)
        if not choices:
            continue  # a positional argument's value (a file, a name)
        if word not in choices:
            return " ".join(words[:i + 1])
        parser = choices[word]
    return None


def test_the_checker_finds_a_command_that_does_not_exist() -> None:
    root = build_parser()
    assert unknown_part("principals frobnicate NAME", root) == "principals frobnicate"
    assert unknown_part("servers --department", root) == "servers --department"
    assert unknown_part("capacity --flavour", root) == "capacity --flavour"
    assert unknown_part("sim serve --scael", root) == "sim serve --scael"
    assert unknown_part("principals rotate NAME", root) is None
    assert unknown_part("servers list --department gd-tax", root) is None
    assert unknown_part("reads the cloud", root) is None


def test_every_command_named_exists() -> None:
    root = build_parser()
    wrong = [f"{source.relative_to(ROOT)}:{n}: `govcloud {bad}` in {line.strip()[:120]!r}"
             for source in SOURCES
             for n, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
             for match in MENTION.finditer(line)
             if (bad := unknown_part(match.group(1), root)) is not None]
    assert not wrong, "commands that do not exist:\n" + "\n".join(wrong)
