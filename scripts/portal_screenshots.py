"""Screenshots of the portal for the docs: docs/img/portal-{run,timeline,dataset,monitor}.png.

Starts a real ``mlstudio server`` on a temporary home, runs a small workflow with a mapped
fan-out, imports a dataset with a pii column and evaluates a monitor over daily sales with a
spike (an open alert), signs in with Chromium (Playwright, Debian's
/usr/bin/chromium) at 1280x800 and saves the run page (tasks and timeline tabs), the dataset
page and the monitor page.

    .venv/bin/python scripts/portal_screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mlstudio.testing.flows import touch, wait_until, write_flow
from mlstudio.testing.monitoring import add_monitor
from mlstudio.testing.servers import start_server

FLOW = """
from mlstudio import task, workflow


@task
def load(rows: int) -> list:
    return list(range(rows))


@task
def features(data: list, release: str) -> list:
    wait_for(release)
    return [x * 2 for x in data]


@task
def train(kind: str, data: list) -> dict:
    return {"kind": kind, "score": len(kind) / 10 + len(data) / 1000}


@task
def pick(models: list) -> dict:
    return max(models, key=lambda m: m["score"])


@workflow
def pipeline(rows: int = 100, release: str = "go") -> dict:
    data = features(load(rows), release)
    models = train.map(kind=["logreg", "gbm", "forest", "svm"], data=data)
    return pick(models)
"""

PEOPLE = (
    "customer_id,email,country,age,score\n1,a@example.com,NL,31,0.4\n2,b@example.com,DE,45,0.9\n"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    root = Path(tempfile.mkdtemp(prefix="portal-shots-"))
    home = root / "home"
    server = start_server(home, f"sqlite:///{(home / 'studio.db').as_posix()}")
    try:
        flow = write_flow(root, FLOW)
        done = server.cli("run", f"{flow}:pipeline", "--detach", "--json", "-p", "release=go")
        assert done.code == 0, done.stderr
        run_id = json.loads(done.stdout)["id"]
        touch(root, "go")
        token = server.token("alice")

        def state() -> str | None:
            with server.http(token) as http:
                shown = http.get(f"/api/v1/runs/{run_id}").json()
            return shown["state"] if shown["state"] in ("succeeded", "failed") else None

        wait_until(state, "the demo run to finish", 120)
        assert server.cli("namespace", "create", "growth").code == 0
        (root / "people.csv").write_text(PEOPLE)
        imported = server.cli(
            "data",
            "import",
            str(root / "people.csv"),
            "--name",
            "growth/customers",
            "--classify",
            "customer_id=internal",
            "--classify",
            "email=confidential+pii",
            "--classify",
            "country=internal",
        )
        assert imported.code == 0, imported.stderr
        add_monitor(server, root, "growth")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server.url}/ui/signin")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.goto(f"{server.url}/ui/runs/{run_id}?tab=tasks")
            expect(page.locator("#tasks [data-task]").first).to_be_visible()
            page.screenshot(path=str(out / "portal-run.png"))
            page.goto(f"{server.url}/ui/runs/{run_id}?tab=timeline")
            expect(page.locator("#gantt [data-bar]").first).to_be_visible()
            page.screenshot(path=str(out / "portal-timeline.png"))
            page.goto(f"{server.url}/ui/datasets/growth/customers")
            expect(page.locator("#schema")).to_be_visible()
            page.screenshot(path=str(out / "portal-dataset.png"))
            page.goto(f"{server.url}/ui/monitors/growth/revenue")
            expect(page.locator("figure.series svg").first).to_be_visible()
            page.screenshot(path=str(out / "portal-monitor.png"), full_page=True)
            browser.close()
        names = "portal-run.png, portal-timeline.png, portal-dataset.png and portal-monitor.png"
        print(f"wrote {names} to {out}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
