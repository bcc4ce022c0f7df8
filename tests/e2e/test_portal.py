"""The web portal in a real Chromium (Debian's, driven by Playwright) against a real
``mlstudio server`` process: sign-in, run list filters, live state, graph and timeline, log
tail, clone, authorization (a viewer's list, a forged cancel), promote for writers only, and a
dataset's classifications. One server for the module; runs are started on its home by the CLI
(embedded, as alice) and observed through the portal.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlstudio.testing.flows import FINISHED, start_mlstudio, touch, wait_until, write_flow
from mlstudio.testing.monitoring import SPIKE, add_monitor
from mlstudio.testing.servers import Server, start_server

sync_api = pytest.importorskip("playwright.sync_api")  # a dev dependency: present in CI
expect = sync_api.expect
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOG_LINES = 150_000  # ~8 MB of output in one task

FLOW = """
from mlstudio import task, workflow


@task
def prepare(x: int) -> int:
    return x + 1


@task
def gate(x: int, release: str) -> int:
    print(f"gate waiting for {release}", flush=True)
    wait_for(release)
    print(f"gate released by {release}", flush=True)
    return x


@task
def chatter(lines: int) -> int:
    for i in range(lines):
        print(f"log line {i:07d} " + "x" * 40)
    return lines


@task
def part(i: int) -> int:
    return i * 10


@task
def total(a: int, b: int, parts: list) -> int:
    return a + b + sum(parts)


@workflow
def flow(x: int = 1, lines: int = 3, release: str = "go") -> int:
    a = prepare(x)
    b = gate(a, release)
    c = chatter(lines)
    parts = part.map(i=[1, 2, 3])
    return total(b, c, parts)
"""

DATA = "id,email,score\n1,a@example.com,0.5\n2,b@example.com,0.7\n"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The server, the flow, tokens for alice (admin) and bob (viewer on adhoc, reader of
    team), a module and a dataset with a pii column."""
    root = tmp_path_factory.mktemp("portal")
    home = root / "home"
    server = start_server(home, f"sqlite:///{(home / 'studio.db').as_posix()}")
    try:
        flow = write_flow(root, FLOW)
        server.add_user("bob")
        for args in (
            ("user", "grant", "bob", "viewer", "--domain", "adhoc"),
            ("namespace", "create", "team"),
            ("namespace", "grant", "team", "bob", "reader"),
        ):
            done = server.cli(*args)
            assert done.code == 0, done.stderr
        module = root / "mod"
        module.mkdir()
        (module / "module.toml").write_text(
            '[module]\nname = "team/demo"\ndescription = "portal demo"\nrequirements = []\n'
        )
        (module / "tasks.py").write_text(
            "from mlstudio import task, workflow\n\n\n@task\ndef one() -> int:\n    return 1\n\n\n"
            "@workflow\ndef wf() -> int:\n    return one()\n"
        )
        pushed = server.cli("module", "push", str(module), "--no-tests")
        assert pushed.code == 0, pushed.stderr
        (root / "people.csv").write_text(DATA)
        imported = server.cli(
            "data",
            "import",
            str(root / "people.csv"),
            "--name",
            "team/people",
            "--classify",
            "email=confidential+pii",
            "--classify",
            "id=internal",
        )
        assert imported.code == 0, imported.stderr
        yield {
            "server": server,
            "root": root,
            "flow": flow,
            "alice": server.token("alice"),
            "bob": server.token("bob"),
        }
    finally:
        server.stop()


def start_run(portal: dict[str, Any], *params: str, domain: str = "experimentation") -> str:
    args = [f"{portal['flow']}:flow", "--detach", "--json", "--domain", domain]
    for param in params:
        args += ["-p", param]
    done = portal["server"].cli("run", *args)
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)["id"]


def run_json(portal: dict[str, Any], run_id: str) -> dict[str, Any]:
    with portal["server"].http(portal["alice"]) as http:
        return http.get(f"/api/v1/runs/{run_id}").raise_for_status().json()


def finished(portal: dict[str, Any], run_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: (r := run_json(portal, run_id))["state"] in FINISHED and r,
        f"run {run_id} to finish",
        120,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (.ci/run installs it)")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """``open_page()``: a new page in its own context (its own cookies), 1280x800; a
    screenshot of each is saved under the test's tmp dir when the test fails."""
    pages: list[Any] = []
    contexts: list[Any] = []
    failed_before = request.session.testsfailed

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    if request.session.testsfailed > failed_before:
        for i, page in enumerate(pages):
            page.screenshot(path=str(tmp_path / f"failure-{i}.png"), full_page=True)
    for context in contexts:
        context.close()


def sign_in(page: Any, server: Server, token: str, then: str = "/ui/runs") -> None:
    page.goto(f"{server.url}{then}")
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("#whoami")).to_be_visible()


def test_sign_in_wrong_token_and_sign_out(portal, open_page):
    server = portal["server"]
    page = open_page()
    page.goto(f"{server.url}/ui/runs")
    expect(page).to_have_url(re.compile(r"/ui/signin\?next="))
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("sign-in refused")
    page.fill("#token", portal["alice"])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/runs$"))
    expect(page.locator("#whoami")).to_have_text("alice")
    cookie = next(c for c in page.context.cookies() if c["name"] == "mlstudio_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert portal["alice"] not in cookie["value"]  # the token itself is not kept
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.goto(f"{server.url}/ui/modules")
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    # the API still wants its bearer token, cookie or not
    assert httpx.get(f"{server.url}/api/v1/runs").status_code == 401


def test_live_state_graph_timeline_and_filters(portal, open_page, tmp_path):
    server, root = portal["server"], portal["root"]
    run_id = start_run(portal, "release=go-live")
    page = open_page()
    sign_in(page, server, portal["alice"], f"/ui/runs/{run_id}")
    badge = page.locator("#run-state")
    expect(badge).to_have_text(re.compile("queued|running"))
    expect(page.locator("[data-task='gate'] [data-task-state]")).to_have_text(
        "running", timeout=60_000
    )
    touch(root, "go-live")  # the gate opens; the page polls, nobody reloads
    expect(badge).to_have_text("succeeded", timeout=60_000)
    expect(badge).to_have_class(re.compile("st-succeeded"))
    shown = run_json(portal, run_id)
    nodes = {t["node"] for t in shown["tasks"]}
    assert {"prepare", "gate", "chatter", "total"} <= nodes
    mapped = {n for n in nodes if n.startswith("part[") and n != "part[*]"}
    assert len(mapped) == 3

    page.click("nav.tabs >> text=Graph")
    graph = page.locator("#graph")
    expect(graph).to_be_visible()
    expect(graph.locator("[data-node]")).to_have_count(len(nodes - mapped - {"part[*]"}) + 1)
    folded = graph.locator("[data-node='part[*]']")
    expect(folded).to_contain_text("3 tasks: 3 succeeded")
    expect(graph.locator("[data-node='gate']")).to_have_class(re.compile("st-succeeded"))

    page.click("nav.tabs >> text=Timeline")
    gantt = page.locator("#gantt")
    expect(gantt.locator("[data-bar]")).to_have_count(len(shown["tasks"]))
    for node in nodes:
        expect(gantt.locator(f"[data-bar='{node}']")).to_have_count(1)

    # the run list: a filter is kept in the URL and across the pager/navigation
    other = start_run(portal, "release=go-other", domain="adhoc")
    page.goto(f"{server.url}/ui/runs")
    page.select_option("#f-state", "succeeded")
    page.fill("#f-domain", "experimentation")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"state=succeeded.*domain=experimentation"))
    expect(page.locator(f"tr[data-run='{run_id}']")).to_have_count(1)
    expect(page.locator(f"tr[data-run='{other}']")).to_have_count(0)
    expect(page.locator("#f-domain")).to_have_value("experimentation")
    page.reload()
    expect(page.locator("#f-state")).to_have_value("succeeded")
    touch(root, "go-other")
    finished(portal, other)


def test_log_tail_is_bounded_and_loads_earlier(portal, open_page):
    server = portal["server"]
    run_id = start_run(portal, f"lines={LOG_LINES}", "release=go-now")
    touch(portal["root"], "go-now")
    assert finished(portal, run_id)["state"] == "succeeded"
    page = open_page()
    sign_in(page, server, portal["alice"], f"/ui/runs/{run_id}?tab=logs&task=chatter")
    log = page.locator("#log")
    expect(log).to_contain_text(f"log line {LOG_LINES - 1:07d}")
    size = page.evaluate("document.body.innerText.length")
    assert size < 100_000, size  # the page holds the tail, not ~8 MB
    assert f"log line {LOG_LINES - 300:07d}" not in log.inner_text()
    page.click("#load-earlier")
    expect(log).to_contain_text(f"log line {LOG_LINES - 300:07d}")
    assert page.evaluate("document.getElementById('log').textContent.length") < 200_000
    with page.expect_download() as download:
        page.click("#log-download")
    whole = Path(download.value.path()).read_text()
    assert whole.count("log line ") == LOG_LINES  # the download is the whole log


def test_clone_with_a_changed_parameter(portal, open_page):
    server = portal["server"]
    run_id = start_run(portal, "x=2", "release=go-clone")
    touch(portal["root"], "go-clone")
    finished(portal, run_id)
    page = open_page()
    sign_in(page, server, portal["alice"], f"/ui/runs/{run_id}?tab=parameters")
    expect(page.locator("#p-x")).to_have_value("2")
    assert page.get_attribute("#p-x", "type") == "number"
    page.fill("#p-x", "41")
    page.click("#clone")
    expect(page).not_to_have_url(re.compile(run_id))
    new_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    assert new_id != run_id
    clone = run_json(portal, new_id)
    assert clone["params"]["x"] == 41 and clone["params"]["release"] == "go-clone"
    with server.http(portal["alice"]) as http:  # no worker here: stop the clone
        http.post(f"/api/v1/runs/{new_id}/cancel")


def test_viewer_sees_only_their_domain_and_a_forged_cancel_is_refused(portal, open_page):
    server = portal["server"]
    hidden = start_run(portal, "release=go-hidden")  # experimentation: bob has no grant
    visible = start_run(portal, "release=go-visible", domain="adhoc")
    page = open_page()
    sign_in(page, server, portal["bob"])
    expect(page.locator(f"tr[data-run='{visible}']")).to_have_count(1)
    expect(page.locator(f"tr[data-run='{hidden}']")).to_have_count(0)
    page.goto(f"{server.url}/ui/runs/{hidden}")
    expect(page.locator("#error")).to_be_visible()
    page.goto(f"{server.url}/ui/runs/{visible}")
    expect(page.locator("#run-state")).to_be_visible()
    csrf = page.locator("input[name=csrf]").first.input_value()
    # a forged form from inside the session: without the token, with a wrong one, and bob's
    # own valid token (a viewer may not cancel): all refused by the server
    for data in ({}, {"csrf": "forged"}, {"csrf": csrf}):
        answer = page.request.post(f"{server.url}/ui/runs/{visible}/cancel", form=data)
        assert answer.status == 403, (data, answer.status)
    answer = httpx.post(f"{server.url}/ui/runs/{visible}/cancel", data={"csrf": csrf})
    assert answer.status_code == 403  # no session cookie at all
    assert run_json(portal, visible)["state"] in ("queued", "running")
    touch(portal["root"], "go-visible")
    finished(portal, visible)
    # alice may cancel: the button is there and the run ends cancelled
    admin = open_page()
    sign_in(admin, server, portal["alice"], f"/ui/runs/{hidden}")
    admin.click("#cancel")
    expect(admin.locator("#run-state")).to_have_text("cancelled", timeout=60_000)
    expect(admin.locator("#cancel")).to_have_count(0)


def test_promote_only_for_writers_and_pii_classification(portal, open_page):
    server = portal["server"]
    reader = open_page()
    sign_in(reader, server, portal["bob"], "/ui/modules/team/demo")
    expect(reader.locator("#versions")).to_contain_text("v1")
    expect(reader.locator("button.promote")).to_have_count(0)
    admin = open_page()
    sign_in(admin, server, portal["alice"], "/ui/modules/team/demo")
    expect(admin.locator("button.promote")).to_have_count(1)

    # a real POST with the session's CSRF token, refused by the module service (pushed with
    # --no-tests): the page says why, and no tag moved
    def tags() -> list[tuple[str, int]]:
        with server.http(portal["alice"]) as http:
            shown = http.get("/api/v1/modules/team/demo").raise_for_status().json()
        return sorted((t["name"], t["version"]) for t in shown["tags"])

    before = tags()
    admin.click("button.promote")
    expect(admin.locator("#error")).to_contain_text("team/demo@1 cannot become latest")
    assert tags() == before
    admin.goto(f"{server.url}/ui/datasets")
    admin.click("text=team/people")
    email = admin.locator("tr[data-column='email'] [data-classification]")
    expect(email).to_contain_text("pii")
    expect(admin.locator("tr[data-column='score'] [data-classification]")).to_have_text(
        "unclassified"
    )
    expect(admin.locator("#unclassified-backlog")).to_contain_text("score")


@pytest.fixture(scope="module")
def monitored(portal: dict[str, Any]) -> dict[str, Any]:
    """team/revenue over team/sales, evaluated: its last day's spike is an open alert."""
    add_monitor(portal["server"], portal["root"], "team")
    return portal


def test_false_alarm_feedback_from_a_monitor_page(monitored, open_page):
    server = monitored["server"]
    page = open_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    sign_in(page, server, monitored["alice"], "/ui/monitors")
    page.click("text=team/revenue")
    expect(page).to_have_url(re.compile(r"/ui/monitors/team/revenue$"))
    expect(page.locator("figure[data-check='anomaly:revenue'] svg .band")).to_have_count(1)
    expect(page.locator(f"svg circle.anomaly[data-window='{SPIKE}']")).to_have_count(1)
    row = page.locator("#alerts tr[data-alert]").filter(has_text=SPIKE).filter(has_text="open")
    expect(row).to_have_count(1)
    expect(row.locator("[data-feedback]")).to_have_text("")
    row.locator("input[name=comment]").fill("a promotion, not a problem")
    row.get_by_role("button", name="false alarm").click()
    expect(page).to_have_url(re.compile(r"/ui/monitors/team/revenue#alert-al_"))
    expect(row.locator("[data-feedback]")).to_have_text("false alarm")
    expect(page.locator("#feedback")).to_contain_text("a promotion, not a problem")
    expect(page.locator("#error")).to_have_count(0)
    assert problems == [], "\n".join(problems)
    with server.http(monitored["alice"]) as http:
        shown = http.get("/api/v1/monitors/team/revenue").raise_for_status().json()
    assert [f["kind"] for f in shown["feedback"]] == ["false_alarm"]


VIEWS = """
from mlstudio.features import Entity, FeatureView

person = Entity("person", join_keys={"id": "int64"})

contact = FeatureView(
    "contact",
    entity=person,
    sql="SELECT id, seen, score * 2 AS score2, length(email) AS email_len FROM people",
    inputs={"people": "team/visits"},
    event_time="seen",
    max_age="7d",
    features={"score2": "float64", "email_len": "int64"},
    owner="growth",
    description="Scores and contact details per person",
)
"""


def test_feature_views_with_classification_and_search(portal, open_page):
    """The catalog's feature views: the list with the join of the features' classifications,
    search by a feature's name, and a view page with each feature's own tags and its SQL."""
    server, root = portal["server"], portal["root"]
    (root / "visits.csv").write_text(
        "id,seen,score,email\n1,2026-01-01T00:00:00,0.5,a@example.com\n"
    )
    imported = server.cli(
        "data", "import", str(root / "visits.csv"), "--name", "team/visits",
        "--classify", "email=confidential+pii",
        *[f"--classify={c}=internal" for c in ("id", "seen", "score")],
    )  # fmt: skip
    assert imported.code == 0, imported.stderr
    module = root / "views"
    (module / "tests").mkdir(parents=True)
    (module / "module.toml").write_text('[module]\nname = "team/views"\nrequirements = []\n')
    (module / "views.py").write_text(VIEWS)
    pushed = server.cli("module", "push", str(module), "--no-tests")
    assert pushed.code == 0, pushed.stderr
    page = open_page()
    sign_in(page, server, portal["alice"], "/ui/runs")
    page.get_by_role("link", name="Features").click()
    row = page.locator("#views tr[data-view='team/contact']")
    expect(row.locator("[data-classification]")).to_contain_text("pii")
    expect(row).to_contain_text("growth")
    page.fill("input[name=search]", "no-such-feature")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#views")).to_contain_text("No feature views.")
    page.fill("input[name=search]", "email_len")
    page.get_by_role("button", name="Search").click()
    page.click("text=team/contact@1")
    expect(page.locator("tr[data-feature='score2'] [data-classification]")).to_have_text("internal")
    expect(page.locator("tr[data-feature='email_len'] [data-classification]")).to_contain_text(
        "pii"
    )
    expect(page.locator("#sql")).to_contain_text("length(email)")
    expect(page.locator("#consumers")).to_contain_text("No consumer")


def test_mlstudio_ui_prints_a_sign_in_url_that_works(tmp_path):
    """``mlstudio ui`` on an embedded home: the printed token signs in at the printed URL."""
    from mlstudio.testing.flows import kill_group
    from mlstudio.testing.servers import clean_env

    home = tmp_path / "home"
    env = clean_env(home, f"sqlite:///{(home / 'studio.db').as_posix()}")
    assert start_mlstudio("init", env=env, output=subprocess.DEVNULL).wait(120) == 0
    out = tmp_path / "ui.out"
    with out.open("wb") as handle:
        proc = start_mlstudio("ui", env=env, output=handle)
    try:
        printed = wait_until(
            lambda: "sign-in token" in out.read_text() and out.read_text(), "the URL", 60
        )
        url = re.search(r"(http://127\.0\.0\.1:\d+/ui/signin)", printed)[1]
        token = re.search(r"token \(valid 1 h\): (\S+)", printed)[1]

        def signed_in() -> httpx.Response | None:
            try:
                with httpx.Client(timeout=10) as http:
                    form = http.get(url)
                    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)[1]
                    answer = http.post(url, data={"token": token, "csrf": csrf})
                    return answer if answer.status_code == 303 else None
            except httpx.TransportError:  # not listening yet
                return None

        answer = wait_until(signed_in, "a sign-in through mlstudio ui", 60)
        assert answer.headers["location"] == "/ui/runs"
        assert "mlstudio_session=" in answer.headers["set-cookie"]
    finally:
        kill_group(proc)
