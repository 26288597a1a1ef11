"""The alert rules (monitors/rules) and the example Prometheus configuration: promtool finds
them valid, every alert has a summary and a runbook, every alert is exercised by the
``promtool test rules`` unit tests, and those tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORS = Path(__file__).resolve().parents[2] / "monitors"
RULES = sorted((MONITORS / "rules").glob("*.yml"))
RULE_TESTS = sorted((MONITORS / "rules" / "tests").glob("*_test.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing (make test installs the prometheus package)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=MONITORS)


def alerts() -> list[dict[str, object]]:
    return [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def test_rules_and_config_are_valid(tmp_path: Path) -> None:
    assert len(RULES) >= 5
    checked = promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    syntax = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    # the example scrapes with govcloud's bearer token (docs/metrics.md, "Credentials"); with
    # that file present (here: a copy of the config beside one) promtool checks it all
    config = yaml.safe_load((MONITORS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["authorization"] == {
        "type": "Bearer", "credentials_file": "/etc/prometheus/govcloud-metrics.token"}
    token = tmp_path / "govcloud-metrics.token"
    token.write_text("a-token-for-promtool-0123456789\n")
    job["authorization"]["credentials_file"] = str(token)
    config["rule_files"] = [str(MONITORS / "rules" / "*.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    full = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert full.returncode == 0, full.stdout + full.stderr
    assert f"{len(RULES)} rule files found" in full.stdout + full.stderr


def test_every_alert_has_a_summary_a_runbook_and_a_severity() -> None:
    found = alerts()
    assert len(found) >= 15
    for rule in found:
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations.get("summary") and annotations.get("runbook"), rule["alert"]
        assert "docs/metrics.md#" in str(annotations["runbook"]), rule["alert"]
        assert rule["labels"]["severity"] in ("info", "warning", "critical")  # type: ignore[index]
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names))


def test_every_alert_is_unit_tested() -> None:
    """Every rule file is loaded by a test file (rules_test.yml, and one of their own for
    some: dr_test.yml), and every alert is shown firing in one."""
    docs = [yaml.safe_load(path.read_text()) for path in RULE_TESTS]
    loaded = sorted(f for doc in docs for f in doc["rule_files"])
    assert loaded == sorted(f"../{p.name}" for p in RULES)  # each once
    firing = {case["alertname"] for doc in docs for test in doc["tests"]
              for case in test.get("alert_rule_test", ()) if case.get("exp_alerts")}
    missing = {str(r["alert"]) for r in alerts()} - firing
    assert not missing, f"alerts never shown firing in {[p.name for p in RULE_TESTS]}: " \
                        f"{sorted(missing)}"


@pytest.mark.slow
def test_promtool_rule_unit_tests_pass() -> None:
    assert len(RULE_TESTS) >= 2
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout
