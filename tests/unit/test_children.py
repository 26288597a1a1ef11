"""Children tied to their parent: how a command is wrapped, that it runs as given when its
parent is alive, and that it does not run at all when its parent is already gone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from govcloud import children
from govcloud.children import setpriv, tied_to_parent

COMMAND = [sys.executable, "-c", "import sys; print('ran', *sys.argv[1:])", "a b", "$HOME"]

needs_setpriv = pytest.mark.skipif(setpriv() is None, reason="no setpriv on this system")


def test_without_setpriv_the_command_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(children, "setpriv", lambda: None)
    assert tied_to_parent(COMMAND) == COMMAND


def test_setpriv_is_used_only_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(children.sys, "platform", "darwin")
    assert setpriv() is None


@needs_setpriv
def test_the_command_is_wrapped_with_the_parent_death_signal() -> None:
    wrapped = tied_to_parent(COMMAND)
    assert wrapped[:4] == [setpriv(), "--pdeathsig", "TERM", "--"]  # children stop cleanly
    assert wrapped[-len(COMMAND):] == COMMAND  # every argument passed on unchanged


@needs_setpriv
def test_a_tied_child_runs_its_command_with_the_arguments_untouched() -> None:
    out = subprocess.run(tied_to_parent(COMMAND), capture_output=True, text=True, check=True,
                         timeout=30).stdout
    assert out == "ran a b $HOME\n"


@needs_setpriv
def test_a_child_whose_parent_is_already_gone_does_not_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(children.os, "getpid", lambda: 1)  # "the parent" is not its parent
    done = subprocess.run(tied_to_parent(COMMAND), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and done.stdout == ""
