"""The alert rules and the example Prometheus configuration, through Debian's promtool."""

from __future__ import annotations

import subprocess

from conftest import DEPLOY, need


def promtool(*arguments: str) -> str:
    result = subprocess.run([need("promtool", "prometheus"), *arguments], cwd=DEPLOY / "prometheus",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_rules_are_valid():
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", "handoff-alerts.yml")


def test_rules_fire_when_they_should_and_only_then():
    assert "SUCCESS" in promtool("test", "rules", "handoff-alerts.test.yml")


def test_the_example_configuration_loads_the_rules():
    assert "is valid prometheus config file syntax" in promtool("check", "config", "prometheus.yml")
