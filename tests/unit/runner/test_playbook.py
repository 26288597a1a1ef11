"""What the playbook runner decides without running Ansible: how a job's events read, when a
job counts as done and what its summary says, and that every value written into an inventory
is data Ansible will not template. (Real ansible-playbook runs:
tests/integration/test_runner_playbook.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from govcloud.errors import InvalidInput
from govcloud.runner.playbook import (
    PlaybookEvent,
    PlaybookResult,
    _event,
    run_playbook,
    write_inventory,
)


def event(name: str, **data: Any) -> dict[str, Any]:
    return {"event": name, "counter": 7, "event_data": {"host": "web-1", "task": "copy", **data}}


@pytest.mark.parametrize(("name", "kind"), [
    ("runner_on_ok", "ok"), ("runner_on_failed", "failed"), ("runner_on_skipped", "skipped"),
    ("runner_on_unreachable", "unreachable"), ("runner_item_on_failed", "failed")])
def test_task_results_are_named_by_what_happened(name: str, kind: str) -> None:
    assert _event(event(name, res={"msg": "m"})) == PlaybookEvent(7, kind, "web-1", "copy", "m")


def test_an_ok_task_that_changed_something_is_changed() -> None:
    got = _event(event("runner_on_ok", res={"changed": True}))
    assert got is not None and got.kind == "changed"
    got = _event(event("runner_on_ok", res={"changed": False}))
    assert got is not None and got.kind == "ok"


@pytest.mark.parametrize("name", ["playbook_on_start", "runner_on_start", "verbose", None])
def test_other_events_are_not_task_results(name: str | None) -> None:
    assert _event({"event": name, "counter": 1, "event_data": {}}) is None


def test_a_message_is_one_line_of_at_most_500_characters() -> None:
    got = _event(event("runner_on_failed", res={"msg": "line one\n\tline   two " + "x" * 600}))
    assert got is not None
    assert got.message.startswith("line one line two x") and "\n" not in got.message
    assert len(got.message) == 500


def test_a_result_that_is_not_a_mapping_gives_no_message() -> None:
    got = _event(event("runner_on_failed", res=["not", "a", "mapping"]))
    assert got is not None and got.kind == "failed" and got.message == ""


def test_the_recap_keeps_the_end_of_its_output_on_one_line() -> None:
    got = _event({"event": "playbook_on_stats", "counter": 99,
                  "stdout": "PLAY RECAP\n" + "web-1 : ok=3 changed=1\n" * 40})
    assert got is not None and got.kind == "recap" and got.host is None
    assert len(got.message) <= 300 and got.message.endswith("changed=1")
    assert "\n" not in got.message


def test_an_event_line_says_where_what_and_why() -> None:
    assert PlaybookEvent(1, "failed", "web-1", "copy", "boom").line() == \
        "web-1: copy — failed: boom"
    assert PlaybookEvent(2, "recap", None, None, "").line() == " — recap"


def test_only_a_successful_job_is_ok_and_its_summary_names_failed_hosts() -> None:
    stats = {"changed": {"web-1": 2, "web-2": 1}, "failures": {"web-3": 1},
             "dark": {"web-4": 1}}
    result = PlaybookResult("j", "failed", 2, Path("/x"), stats=stats, events=12)
    assert not result.ok and result.changed == 3
    assert result.summary() == ("playbook failed (rc 2, 12 events, 3 changed, "
                                "failed on web-3, web-4)")
    done = PlaybookResult("j", "successful", 0, Path("/x"), events=4)
    assert done.ok and done.changed == 0
    assert done.summary() == "playbook successful (rc 0, 4 events, 0 changed)"
    for status in ("timeout", "canceled"):
        assert not PlaybookResult("j", status, None, Path("/x")).ok


def test_inventory_values_are_never_templated_but_keys_and_numbers_stay(
        tmp_path: Path) -> None:
    hostile = "{{ lookup('pipe', 'id') }}"
    path = write_inventory({"all": {"hosts": {"web-1": {
        "ansible_host": "10.0.0.5", "note": hostile, "port": 22, "tags": ["a", hostile],
        "empty": "", "nested": {"x": hostile}}}}}, tmp_path / "inv" / "hosts.yml")
    text = path.read_text()
    assert text.count("!unsafe") == 5  # every non-empty string value, none of the keys
    assert "web-1:" in text and "port: 22" in text
    assert "!unsafe ''" not in text  # Ansible would read an unsafe empty string as null

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: ("unsafe", node.value))
    host = yaml.load(text, Loader=Loader)["all"]["hosts"]["web-1"]  # noqa: S506 - SafeLoader
    assert host["note"] == ("unsafe", hostile)
    assert host["tags"] == [("unsafe", "a"), ("unsafe", hostile)]
    assert host["nested"] == {"x": ("unsafe", hostile)}
    assert host["port"] == 22 and host["empty"] == ""


def test_a_playbook_that_does_not_exist_is_refused_before_anything_runs(
        tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        run_playbook(tmp_path / "missing.yml", private_data_dir=tmp_path / "job",
                     inventory={"all": {}})
    assert not (tmp_path / "job").exists()
    with pytest.raises(InvalidInput, match="does not exist"):  # a directory is no playbook
        run_playbook(tmp_path, private_data_dir=tmp_path / "job", inventory={"all": {}})
    assert not (tmp_path / "job").exists()
