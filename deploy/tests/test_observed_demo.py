"""One `handoff demo --observe` run, watched the ways an SRE would: the live view in a real headless browser while
requests run, then every Grafana panel's PromQL evaluated by the demo's own Prometheus, then the alert rules as
that Prometheus evaluates them. The tests run in this file's order, sharing the run (conftest.demo)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import time
import urllib.error

import pytest

from conftest import DEMO_REQUESTS, DEPLOY, http_json, need, prometheus_query

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "handoff.json"
WORKER_IDS = {"prefill-0", "prefill-1", "decode-0", "decode-1"}


class Browser:
    """Headless Debian chromium driven through chromedriver's WebDriver API (no client library needed)."""

    def __init__(self) -> None:
        driver = need("chromedriver", "chromium-driver")
        chromium = need("chromium", "chromium")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.driver = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                if http_json(f"{self.base}/status", timeout=2)["value"]["ready"]:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.time() > deadline:
                self.driver.kill()
                pytest.fail("chromedriver did not start within 30 s")
            time.sleep(0.2)
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                # As root (CI) chromium needs --no-sandbox; no GPU and a small /dev/shm on build machines.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        answer = http_json(f"{self.base}/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=120)
        self.session = f"{self.base}/session/{answer['value']['sessionId']}"

    def open(self, url: str) -> None:
        http_json(f"{self.session}/url", {"url": url})

    def run(self, script: str):
        return http_json(f"{self.session}/execute/sync", {"script": script, "args": []})["value"]

    def console(self) -> list[dict]:
        """The browser console's entries since the last call."""
        return http_json(f"{self.session}/se/log", {"type": "browser"})["value"]

    def close(self) -> None:
        try:
            http_json(self.session, method="DELETE")
        finally:
            self.driver.kill()
            self.driver.wait()


def wait_until(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"{what} within {timeout} s")


def test_the_live_view_shows_the_fleet_and_its_chart_moves_while_requests_run(demo):
    browser = Browser()
    try:
        browser.open(demo.live_view)
        rows = wait_until(
            lambda: browser.run("return [...document.querySelectorAll('#workers tr')].map(r => r.dataset.worker)"),
            30, "no worker rows")
        assert set(rows) == WORKER_IDS
        states = browser.run("return [...document.querySelectorAll('#workers tr')].map(r => r.className)")
        assert states == ["live"] * 4
        offers = browser.run(
            "return Object.fromEntries([...document.querySelectorAll('#workers tr')]"
            ".map(r => [r.dataset.worker, r.children[7].textContent]))")
        assert offers["prefill-0"] == "tcp" and "ucx" in offers["decode-0"]
        assert demo.running_requests, "the demo finished before the browser could watch it"
        first = int(browser.run("return document.getElementById('chart').dataset.points"))
        done_before = browser.run("return document.querySelectorAll('#totals b')[1].textContent")
        later = wait_until(
            lambda: (points := int(browser.run("return document.getElementById('chart').dataset.points")))
            >= first + 3 and points, 20, "the chart did not grow by 3 points")
        assert demo.running_requests, "the chart must move while requests run"
        done_after = browser.run("return document.querySelectorAll('#totals b')[1].textContent")
        assert int(done_after) > int(done_before)
        pairs = browser.run("return document.querySelectorAll('#pairs tr').length")
        share = browser.run("return document.getElementById('share').textContent")
        assert pairs >= 1 and "of the TTFT p50" in share
        errors = [entry for entry in browser.console() if entry["level"] == "SEVERE"]
        assert errors == [], errors
        print(f"\nlive view: workers {sorted(rows)}, chart points {first} -> {later}, done {done_before} -> "
              f"{done_after}, pairs {pairs}; {share}")
    finally:
        browser.close()


def panel_targets():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        for target in panel["targets"]:
            yield panel["title"], target


def evaluate(demo, target) -> list[dict]:
    """A panel target as Grafana would ask for it over the run: `$__rate_interval` is 4 scrapes (Grafana's
    floor), `$__range` the run; an instant target is evaluated at the run's end."""
    start, end = demo.started, demo.ended + 2
    expr = target["expr"].replace("$__rate_interval", "4s").replace("$__range", f"{math.ceil(end - start)}s")
    if target.get("instant"):
        return prometheus_query(demo.prometheus, "query", query=expr, time=f"{end:.3f}")["result"]
    return prometheus_query(demo.prometheus, "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                            step="1")["result"]


def values(series: dict) -> list[float]:
    raw = series["values"] if "values" in series else [series["value"]]
    return [float(value) for _, value in raw if not math.isnan(float(value))]


def test_every_dashboard_panel_returns_data_from_prometheus(demo):
    demo.wait_until_over()
    time.sleep(3)  # the last scrapes
    results = {}
    for title, target in panel_targets():
        result = evaluate(demo, target)
        finite = [series for series in result if values(series)]
        assert finite, f"panel '{title}', query {target['refId']}: no data for {target['expr']}"
        results.setdefault(title, []).extend(finite)

    def last(title: str, **labels: str) -> float:
        for series in results[title]:
            if all(series["metric"].get(key) == value for key, value in labels.items()):
                return values(series)[-1]
        pytest.fail(f"panel '{title}' has no series {labels}")

    def peak(title: str, **labels: str) -> float:
        return max(max(values(series)) for series in results[title]
                   if all(series["metric"].get(key) == value for key, value in labels.items()))

    assert last("Workers by role and state", role="prefill", state="live") == 2
    assert last("Workers by role and state", role="decode", state="live") == 2
    assert 0 < peak("TTFT p50 / p90 / p99") < 10
    assert 0 < peak("KV transfer share of TTFT") < 1
    assert peak("KV throughput by transport", transport="tcp") > 0
    assert peak("Fallbacks to TCP, by reason", reason="peer_without_ucx") > 0
    assert peak("Requests finished per second, by outcome", outcome="done") > 0
    assert sum(values(series)[-1] for series in results["Pairs over the dashboard range"]) > DEMO_REQUESTS / 2
    print("\npanels over the run (series: peak):")
    for title, found in results.items():
        print(f"  {title}: " + "; ".join(
            f"{json.dumps(series['metric'], sort_keys=True)} {max(values(series)):.4g}" for series in found))


def test_the_demo_prometheus_evaluates_the_alert_rules(demo):
    demo.wait_until_over()
    groups = prometheus_query(demo.prometheus, "rules")["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert len(rules) == 7, sorted(rules)
    assert all(rule["health"] == "ok" for rule in rules.values()), rules
    # Every transfer of the run fell back to TCP: that alert's condition holds (pending for its 5 minutes).
    assert rules["HandoffFallbacksRising"]["state"] in ("pending", "firing")
    for quiet in ("HandoffTransferStuck", "HandoffWorkerLost", "HandoffRequestsFailing", "HandoffLeasesExpiring",
                  "HandoffCoordinatorDown", "HandoffKVShareHigh"):
        assert rules[quiet]["state"] == "inactive", (quiet, rules[quiet])
    print("\nalerts: " + ", ".join(f"{name} {rule['state']}" for name, rule in sorted(rules.items())))


def test_the_demo_stops_cleanly_when_interrupted(demo):
    demo.wait_until_over()
    status, summary = demo.stop()
    assert status == 0
    assert summary["succeeded"] == DEMO_REQUESTS and summary["failed"] == 0
