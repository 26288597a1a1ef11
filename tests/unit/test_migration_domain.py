"""The pure migration core: the inventory format, survey parsing, waves, readiness, gates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from govcloud.domain.legacy import (
    SURVEY_MARK,
    Connection,
    Survey,
    dependency_edges,
    parse_inventory,
    parse_survey,
)
from govcloud.domain.waves import (
    Flavor,
    Headroom,
    Step,
    StepStatus,
    entry_gate,
    next_step,
    plan_waves,
    readiness,
)
from govcloud.errors import InvalidInput

INV = {"all": {"vars": {"govcloud_department": "gd-psd", "ansible_user": "ops"},
               "children": {"hukou": {"vars": {"govcloud_system": "hukou",
                                               "govcloud_dr_level": 5},
                                      "hosts": {"psd-db1": {"ansible_host": "10.0.0.1",
                                                            "govcloud_data_paths": ["/srv/db"]},
                                                "psd-app1": {"ansible_host": "10.0.0.2",
                                                             "ansible_port": 2222}}},
                            "misc": {"hosts": {"psd-ftp": {"ansible_host": "10.0.0.3",
                                                           "govcloud_system": "ftp",
                                                           "govcloud_service": "vsftpd"}}}}}}


def test_inventory_vars_inherit_from_all_through_groups() -> None:
    hosts = {h.name: h for h in parse_inventory(INV)}
    assert hosts["psd-db1"].system == "hukou" and hosts["psd-db1"].dr_level == 5
    assert hosts["psd-db1"].endpoint.user == "ops"
    assert hosts["psd-app1"].endpoint.known_hosts_name == "[10.0.0.2]:2222"
    assert hosts["psd-ftp"].stop_command == "systemctl stop -- vsftpd"
    assert hosts["psd-db1"].groups == ("hukou",)


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["all"]["vars"].pop("govcloud_department"), "govcloud_department"),
    (lambda d: d["all"]["children"]["misc"]["hosts"]["psd-ftp"].pop("govcloud_system"),
     "govcloud_system"),
    (lambda d: d["all"]["children"]["hukou"]["vars"].update(govcloud_dr_level=9), "DR level"),
    (lambda d: d["all"]["children"]["hukou"]["hosts"]["psd-app1"].update(ansible_port="x"),
     "not a number"),
    (lambda d: d["all"]["children"]["hukou"]["hosts"]["psd-app1"].update(
        ansible_host="10.0.0.1", ansible_port=22), "same address"),
])
def test_inventory_problems_name_the_host(mutate, words) -> None:  # type: ignore[no-untyped-def]
    import copy

    data = copy.deepcopy(INV)
    mutate(data)
    with pytest.raises(InvalidInput, match=words):
        parse_inventory(data)


def _output(**sections: str) -> str:
    return "".join(f"{SURVEY_MARK}{k}\n{v}\n" for k, v in sections.items())


def test_survey_parsing_and_dependencies() -> None:
    out = _output(
        os='ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"', kernel="Linux 6.1.0",
        cpu="4", mem="MemTotal:       8038292 kB",
        disks="Filesystem 1024-blocks Used Available Capacity Mounted on\n"
              "/dev/sda1 1000000 400000 600000 40% /",
        data="/srv/db\t1234\n/srv/none\t-1", addresses="10.0.0.1 172.17.0.1",
        listen="LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\nLISTEN 0 128 10.0.0.1:5432 0.0.0.0:*",
        established="0 0 10.0.0.1:5432 10.0.0.2:40000\n0 0 127.0.0.1:1 127.0.0.1:2",
        mounts="nas:/export /mnt/nas nfs4 rw 0 0\n/dev/sda1 / ext4 rw 0 0", iscsi="session1")
    s = parse_survey(out, address="10.0.0.1", data_paths=["/srv/db", "/srv/none"])
    assert (s.os_id, s.os_version, s.cpus, s.ram_mb) == ("debian", "12", 4, 7849)
    assert s.disks[0].used_kb == 400000 and s.data_kb == {"/srv/db": 1234, "/srv/none": -1}
    assert s.listening == (22, 5432)
    assert s.connections == (Connection("10.0.0.1", 5432, "10.0.0.2", 40000),)
    assert s.mounts == ("nfs4 nas:/export on /mnt/nas", "iscsi session session1")
    assert Survey.from_dict(s.to_dict()) == s
    hosts = parse_inventory(INV)
    assert dependency_edges(hosts, {"psd-db1": s}) == {frozenset({"psd-db1", "psd-app1"})}


def _survey(data_kb: int = 1024, os_id: str = "debian") -> Survey:
    return Survey(reachable=True, os_id=os_id, os_version="12", cpus=2, ram_mb=4000,
                  data_kb={"/d": data_kb})


def test_plan_puts_connected_hosts_together_and_rehearses_first() -> None:
    hosts = parse_inventory(INV)
    surveys = {h.name: _survey() for h in hosts}
    levels = {"psd-db1": 5, "psd-app1": 5, "psd-ftp": 1}
    start = datetime(2026, 12, 5, 1, tzinfo=UTC)
    waves = plan_waves(hosts, surveys, dr_levels=levels, first_window=start)
    assert [w.hosts for w in waves] == [("psd-ftp",), ("psd-app1", "psd-db1")]
    assert waves[0].rehearsal and not waves[1].rehearsal
    assert waves[1].window.start == datetime(2026, 12, 12, 1, tzinfo=UTC)
    # a too-small window splits groups into more waves, never a group itself
    many = plan_waves(hosts, {h.name: _survey(10**8) for h in hosts}, dr_levels={},
                      first_window=start, window_hours=1, throughput_mb_s=100)
    assert sorted(len(w.hosts) for w in many) == [1, 2]


def test_readiness_scores_with_reasons_and_the_gate() -> None:
    host = parse_inventory(INV)[0]
    flavors = [Flavor("m1.small", 1, 2048, 20), Flavor("m1.medium", 2, 4096, 40)]
    room = {"PROD": Headroom(10, 10**6, 5), "DR-LOCAL": Headroom(1, 10**6, 5)}
    r = readiness(host, _survey(), dr_level=5, flavors=flavors, headroom=room, window_hours=4,
                  throughput_mb_s=100, signed_off=True, rollback_rehearsed=True)
    assert r.flavor == "m1.medium" and r.score == 85
    assert r.reasons == ["quota short: DR-LOCAL: 1 vCPU, 1000000 MB, 5 instances free"]
    room["DR-LOCAL"] = Headroom(4, 10**6, 5)
    ok = readiness(host, _survey(), dr_level=5, flavors=flavors, headroom=room,
                   window_hours=4, throughput_mb_s=100, signed_off=True,
                   rollback_rehearsed=True)
    assert ok.score == 100 and ok.reasons == []
    bad = readiness(host, _survey(os_id="windows"), dr_level=1, flavors=flavors,
                    headroom=room, window_hours=4, throughput_mb_s=100, signed_off=False,
                    rollback_rehearsed=True)
    assert any("supported" in x for x in bad.reasons) and any("sign-off" in x
                                                               for x in bad.reasons)
    gate = entry_gate({"a": ok, "b": bad})
    assert not gate.passed and gate.reasons[0].startswith("b: readiness")
    assert entry_gate({"a": ok, "b": bad}, overridden=True).passed
    assert not entry_gate({"a": ok}, previous_done=False).passed


def test_resume_point_is_the_first_unfinished_step() -> None:
    done = dict.fromkeys(Step, StepStatus.SUCCEEDED)
    assert next_step(done) is None
    statuses = {**done, Step.FINAL_SYNC: StepStatus.INTERRUPTED, Step.CUTOVER: StepStatus.PENDING}
    assert next_step(statuses) is Step.FINAL_SYNC


def test_the_shipped_example_inventory_is_valid() -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[2] / "inventory" / "legacy" / "gd-psd.yaml"
    hosts = parse_inventory(yaml.safe_load(path.read_text()), where=str(path))
    assert {h.name for h in hosts} == {"psd-hukou-db1", "psd-hukou-app1", "psd-archive1"}
    assert all(h.department == "gd-psd" and h.endpoint.user == "migrate" for h in hosts)


def test_a_window_says_why_a_time_is_outside_it() -> None:
    from datetime import timedelta

    from govcloud.domain.waves import Window

    start = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    w = Window(start, start + timedelta(hours=4))
    assert w.outside(start) is None and w.outside(start + timedelta(hours=4)) is None
    early = w.outside(start - timedelta(minutes=1))
    assert early is not None and "has not opened yet" in early and "2026-12-05 00:59" in early
    late = w.outside(start + timedelta(hours=4, seconds=1))
    assert late is not None and "has closed" in late
