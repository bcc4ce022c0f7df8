"""The portal's monitor and deployment pages in process (FastAPI's TestClient on a SQLite home):
a monitor with a revenue spike renders its alert and an SVG series with the baseline band;
feedback is a CSRF-protected POST the monitoring service authorizes; deployments render with
their kill switch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlstudio.api.portal.monitors import chart
from mlstudio.testing.monitoring import CLASSIFY, NOW, SPIKE, write_sales

SQLITE = pytest.mark.parametrize("studio", ["sqlite"], indirect=True)  # one edge, one database


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', html)[1]


@pytest.fixture
def portal(studio, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A served app on the studio's home, a monitor with an alert, and a signed-in client per
    user: alice (admin), carol (viewer of production: may give feedback), bob (no grant)."""
    from mlstudio.api.app import create_app
    from mlstudio.app.local import LocalStudio

    studio.ok("namespace", "create", "shop")
    data = write_sales(tmp_path / "sales.parquet")
    studio.ok("data", "import", data, "--name", "shop/sales", *CLASSIFY)
    platform = studio.platform()
    try:
        platform.identity.add_user("alice", "bob", None)
        platform.identity.add_user("alice", "carol", None)
        platform.identity.grant("alice", "carol", "viewer", "domain", "production")
        app = LocalStudio(platform, "alice")
        app.monitoring.add("shop/revenue", source="shop/sales", time_column="ts",
                           metrics=["revenue=sum:amount"])  # fmt: skip
        app.monitoring.run("shop/revenue", now=NOW)
        web = create_app(platform)
        clients = {}
        for user in ("alice", "bob", "carol"):
            client = TestClient(web, follow_redirects=False)
            client.__enter__()
            _record, token = platform.tokens.create(user)
            form = client.get("/ui/signin")
            signed = client.post("/ui/signin", data={"token": token, "csrf": csrf_of(form.text)})
            assert signed.status_code == 303, signed.text[:300]
            clients[user] = client
        yield {"app": app, "platform": platform, **clients}
        for client in clients.values():
            client.__exit__(None, None, None)
    finally:
        platform.close()


def spike(app: Any) -> dict[str, Any]:
    alerts = app.monitoring.alerts("shop/revenue")
    return next(a for a in alerts if a["first_window"] == SPIKE and a["slice"] == "")


@SQLITE
def test_the_list_and_the_page_show_the_alert_and_the_band(portal):
    alice, alert = portal["alice"], spike(portal["app"])
    listed = alice.get("/ui/monitors")
    assert listed.status_code == 200, listed.text[:300]
    row = re.search(r'<tr data-monitor="shop/revenue">.*?</tr>', listed.text, re.S)[0]
    assert "shop/sales" in row and "anomaly:revenue" in row and SPIKE in row
    opened = sum(1 for a in portal["app"].monitoring.alerts("shop/revenue") if a["state"] == "open")
    assert re.search(rf"data-open>{opened}<", row)
    page = alice.get("/ui/monitors/shop/revenue")
    assert page.status_code == 200, page.text[:300]
    assert f'data-alert="{alert["id"]}"' in page.text
    svg = re.search(r'<figure class="series" data-check="anomaly:revenue">.*?</figure>', page.text,
                    re.S)[0]  # fmt: skip
    assert "<svg" in svg and 'class="band"' in svg and 'class="line"' in svg
    assert f'class="anomaly" data-window="{SPIKE}"' in svg
    assert "band = expected ± 4.0·scale" in svg
    assert page.text.count(f'action="/ui/alerts/{alert["id"]}/feedback"') == 1  # admin: buttons


def test_the_band_is_expected_plus_minus_threshold_times_scale():
    points = [{"window": f"d{i}", "value": 10.0, "expected": 10.0, "scale": 1.0, "status": "ok"}
              for i in range(3)]  # fmt: skip
    points.append({"window": "d3", "value": 30.0, "expected": 10.0, "scale": 1.0,
                   "status": "anomaly"})  # fmt: skip
    drawn = chart("anomaly:x", points, threshold=5.0, feedback=[{"start": "d3", "end": "d3"}])
    assert (drawn["lo"], drawn["hi"]) == (5.0, 30.0)  # 10 ± 5·1 and the spike
    top, bottom = drawn["bands"][0].split()[0], drawn["bands"][0].split()[-1]
    height = drawn["height"] - 24
    assert float(top.split(",")[1]) == pytest.approx(12 + (30 - 15) / 25 * height, abs=0.1)
    assert float(bottom.split(",")[1]) == pytest.approx(12 + (30 - 5) / 25 * height, abs=0.1)
    assert [d["window"] for d in drawn["dots"]] == ["d3"] and len(drawn["marks"]) == 1
    gap = chart("anomaly:x", [*points[:2], {"window": "d2", "status": "no_data"}, points[3]])
    assert gap["line"].count("M") == 2 and len(gap["bands"]) == 2  # a gap is not zero


@SQLITE
def test_feedback_needs_the_csrf_token_and_is_recorded(portal):
    carol, app = portal["carol"], portal["app"]
    alert = spike(app)
    page = carol.get("/ui/monitors/shop/revenue")
    assert page.status_code == 200 and 'data-kind="false_alarm"' in page.text
    target = f"/ui/alerts/{alert['id']}/feedback"
    refused = carol.post(target, data={"kind": "false_alarm"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert app.monitoring.show("shop/revenue")["feedback"] == []
    given = carol.post(
        target, data={"csrf": csrf_of(page.text), "kind": "false_alarm", "comment": "promo day"}
    )
    assert given.status_code == 303
    assert given.headers["location"] == f"/ui/monitors/shop/revenue#alert-{alert['id']}"
    [recorded] = app.monitoring.show("shop/revenue")["feedback"]
    assert (recorded["kind"], recorded["alert"], recorded["comment"], recorded["created_by"]) == (
        "false_alarm", alert["id"], "promo day", "carol")  # fmt: skip
    again = carol.get("/ui/monitors/shop/revenue")
    row = re.search(rf'<tr id="alert-{alert["id"]}".*?</tr>', again.text, re.S)[0]
    assert "<td data-feedback>false alarm</td>" in row
    bad = carol.post(target, data={"csrf": csrf_of(page.text), "kind": "nonsense"})
    assert bad.status_code == 400 and "unknown feedback kind" in bad.text


@SQLITE
def test_a_user_without_the_domain_role_gets_no_buttons_and_a_forged_post_is_refused(portal):
    bob, app = portal["bob"], portal["app"]
    alert = spike(app)
    page = bob.get("/ui/monitors/shop/revenue")
    assert page.status_code == 403 and 'id="error"' in page.text
    assert "/feedback" not in page.text and 'data-kind="' not in page.text
    assert "shop/revenue" not in bob.get("/ui/monitors").text  # not listed either
    csrf = csrf_of(bob.get("/ui/runs").text)  # bob's own valid session token
    forged = bob.post(
        f"/ui/alerts/{alert['id']}/feedback", data={"csrf": csrf, "kind": "confirmed"}
    )
    assert forged.status_code == 403 and "give monitor feedback" in forged.text
    assert app.monitoring.show("shop/revenue")["feedback"] == []


@SQLITE
def test_deployments_render_empty_and_with_a_row_and_its_kill_switch(portal, studio, tmp_path):
    from mlstudio.app.local import LocalStudio
    from mlstudio.testing.serving import write_module

    alice = portal["alice"]
    empty = alice.get("/ui/deployments")
    assert empty.status_code == 200 and "No deployments." in empty.text
    assert alice.get("/ui/deployments/nope").status_code == 404
    studio.ok("module", "push", write_module(tmp_path / "mod"), "--no-tests")
    run = studio.ok("run", "shop/scoring/fit:latestAlpha", "-p", "c=1.0")
    made = studio.ok("model", "register", "churn", "--run", run["id"], "--namespace", "shop")
    studio.ok("model", "alias", "churn", "live", str(made["version"]))
    served = LocalStudio(portal["platform"], "alice", served=True)
    served.deployments.deploy("churn", alias="live", fallback="previous,constant:0.5")
    listed = alice.get("/ui/deployments")
    row = re.search(r'<tr data-deployment="churn">.*?</tr>', listed.text, re.S)[0]
    assert "pending" in row and "live" in row and "killed" not in row
    page = alice.get("/ui/deployments/churn")
    assert page.status_code == 200, page.text[:300]
    assert f'data-alias="live">live→v{made["version"]}<' in page.text
    assert "<code>previous</code> → <code>constant:0.5</code>" in page.text
    assert "Kill switch off" in page.text and "not set" in page.text
    served.flags.set("serve.churn.kill", value=True, namespace="shop")
    served.flags.set("serve.churn.route", variants={"live": "live", "canary": "canary"},
                     split=["live=90", "canary=10"], namespace="shop")  # fmt: skip
    killed = alice.get("/ui/deployments/churn")
    assert 'id="kill-switch" class="killed"' in killed.text and "Kill switch ON" in killed.text
    route = re.search(r'<tr data-flag="route">.*?</tr>', killed.text, re.S)[0]
    assert "live=90" in route and "canary=10" in route
    assert '<span class="killed">killed</span>' in alice.get("/ui/deployments").text


def test_feedback_buttons_follow_the_domain_roles_of_the_monitoring_service():
    from mlstudio.api.portal.monitors import feedback_roles
    from mlstudio.api.portal.pages import may_hold_domain_role

    def grants(*rows: tuple[str, str, str]) -> dict[str, Any]:
        return {"grants": [{"role": r, "scope_kind": k, "scope": s} for r, k, s in rows]}

    roles = feedback_roles()
    assert may_hold_domain_role(grants(("admin", "platform", "")), "production", roles)
    assert may_hold_domain_role(grants(("viewer", "domain", "production")), "production", roles)
    assert may_hold_domain_role(grants(("runner", "domain", "production")), "production", roles)
    assert not may_hold_domain_role(grants(("viewer", "domain", "adhoc")), "production", roles)
    assert not may_hold_domain_role(grants(("owner", "namespace", "shop")), "production", roles)
    assert not may_hold_domain_role({"grants": []}, "production", roles)
