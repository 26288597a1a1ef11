"""``make conformance`` fails on a skip it did not expect (tests/conformance/run.py): a test that
skips proves nothing, so only the skips listed in ``EXPECTED_SKIPS`` — with the message
openstacksdk gives for them — leave the run green."""

from __future__ import annotations

from pathlib import Path

from tests.conformance.run import EXPECTED_SKIPS, summarise, unexpected_skips, verdict

SITE = "../../work/main/.venv/lib/python3.11/site-packages/"


def junit(tmp_path: Path, cases: list[tuple[str, str | None]]) -> Path:
    """A junit file as pytest writes it for the conformance run: ``(test, skip message)``."""
    rows = []
    for test, skip in cases:
        module, cls, name = test.split("::")
        body = f'<skipped type="pytest.skip" message="{skip}">x</skipped>' if skip else ""
        rows.append(f'<testcase classname=".{cls}" name="{name}" file="{SITE}{module}" '
                    f'line="1" time="0.1">{body}</testcase>')
    path = tmp_path / "junit.xml"
    path.write_text(f'<testsuites><testsuite name="pytest">{"".join(rows)}</testsuite>'
                    "</testsuites>")
    return path


PASSING = "openstack/tests/functional/compute/v2/test_flavor.py::TestFlavor::test_flavors"


def run(tmp_path: Path, cases: list[tuple[str, str | None]]) -> tuple[int, list[str]]:
    counts, _failures, skips = summarise(junit(tmp_path, cases))
    unexpected = unexpected_skips(skips)
    return verdict(counts, unexpected), [name for name, _ in unexpected]


def test_the_upstream_disabled_volume_tests_are_the_expected_skips(tmp_path: Path) -> None:
    expected = [(name, why) for name, (why, _reason) in EXPECTED_SKIPS.items()]
    assert len(expected) == 7
    assert run(tmp_path, [(PASSING, None), *expected]) == (0, [])


def test_any_other_skip_fails_the_run(tmp_path: Path) -> None:
    other = "openstack/tests/functional/cloud/test_compute.py::TestCompute::test_list_all_servers"
    expected = [(name, why) for name, (why, _reason) in EXPECTED_SKIPS.items()]
    assert run(tmp_path, [(PASSING, None), *expected,
                          (other, "Operator cloud is required for this test")]) == (1, [other])


def test_an_expected_test_skipping_for_another_reason_fails_the_run(tmp_path: Path) -> None:
    name = next(iter(EXPECTED_SKIPS))
    assert run(tmp_path, [(PASSING, None), (name, "volume service not supported by cloud")]) \
        == (1, [name])
