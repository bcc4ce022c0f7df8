"""The environment part of a cache key: the import closure of a task's code, with versions,
resolved against real ``.dist-info`` folders in a temporary site directory."""

from __future__ import annotations

import json

from mlstudio.testing.distributions import install_distribution
from mlstudio.workflows.cache import environment as env


def site_with_packages(tmp_path):
    site = tmp_path / "site"
    install_distribution(
        site,
        "ck-app",
        "1.0",
        requires=[
            "ck-dep>=1",
            'ck-opt; extra == "fast"',  # optional: not followed
            'ck-win; sys_platform == "win32"',  # not for this platform
        ],
    )
    install_distribution(site, "ck-dep", "2.1", requires=["ck-leaf"])
    install_distribution(site, "ck-leaf", "0.3")
    install_distribution(site, "ck-opt", "5.0")
    install_distribution(site, "ck-win", "1.0")
    install_distribution(site, "ck-other", "9.9")
    return site


def test_imports_resolve_to_distributions_and_their_required_closure(tmp_path):
    installed = env.scan([str(site_with_packages(tmp_path))])
    assert installed.providers["ck_app"] == ["ck-app"]
    assert installed.requires["ck-app"] == ["ck-dep"]
    packages, missing = env.closure(installed, ["ck_app", "nosuch"])
    assert packages == {"ck-app": "1.0", "ck-dep": "2.1", "ck-leaf": "0.3"}
    assert missing == ["nosuch"]


def test_a_distribution_without_top_level_txt_is_found_from_its_files(tmp_path):
    site = tmp_path / "site"
    info = install_distribution(site, "ck-bare", "1.2")
    (info / "top_level.txt").unlink()
    installed = env.scan([str(site)])
    assert env.closure(installed, ["ck_bare"]) == ({"ck-bare": "1.2"}, [])


def test_the_env_part_has_interpreter_packages_and_always_the_table_codec(tmp_path):
    installed = env.scan([str(site_with_packages(tmp_path))])
    part = env.environment_part(installed, ["ck_dep"])
    assert part["python"].split()[-1].count(".") == 2
    assert part["platform"]
    assert part["packages"] == {"ck-dep": "2.1", "ck-leaf": "0.3"}
    assert part["missing"] == ["pyarrow"]  # not in this site: listed, so installing it counts
    everything = env.environment_part(installed, None)
    assert everything["all"] is True
    assert set(everything["packages"]) == {
        "ck-app",
        "ck-dep",
        "ck-leaf",
        "ck-opt",
        "ck-win",
        "ck-other",
    }


def test_installing_or_upgrading_an_unrelated_distribution_keeps_the_part(tmp_path):
    site = site_with_packages(tmp_path)
    before = env.environment_part(env.scan([str(site)]), ["ck_app"])
    install_distribution(site, "ck-other", "10.0")
    install_distribution(site, "ck-new", "1.0")
    assert env.environment_part(env.scan([str(site)]), ["ck_app"]) == before
    install_distribution(site, "ck-leaf", "0.4")  # reached through ck-dep
    after = env.environment_part(env.scan([str(site)]), ["ck_app"])
    assert after["packages"]["ck-leaf"] == "0.4" and after != before


def test_the_scan_is_remembered_per_search_path_until_it_changes(tmp_path):
    site = site_with_packages(tmp_path)
    cache = tmp_path / "cache"
    first = env.installed_on([str(site)], cache)
    files = list((cache / "environments").glob("*.json"))
    assert len(files) == 1
    # what was remembered is what is used: tamper with it and it shows
    data = json.loads(files[0].read_text())
    data["versions"]["ck-app"] = "remembered"
    files[0].write_text(json.dumps(data))
    assert env.installed_on([str(site)], cache).versions["ck-app"] == "remembered"
    # installing anything changes the folder, hence the stamp: scanned again
    install_distribution(site, "ck-app", "1.1", requires=["ck-dep>=1"])
    again = env.installed_on([str(site)], cache)
    assert again.versions["ck-app"] == "1.1" != first.versions["ck-app"]


def test_files_other_than_distribution_metadata_leave_the_stamp_alone(tmp_path):
    """A script's folder on sys.path (or /tmp) gains files all the time: no re-scan for that."""
    site = site_with_packages(tmp_path)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    paths = [str(scripts), str(site)]
    before = env.stamp(paths)
    (scripts / "notes.txt").write_text("x")
    (site / "plain_module.py").write_text("x = 1\n")
    assert env.stamp(paths) == before
    install_distribution(scripts, "ck-new", "1.0")  # a distribution there does count
    assert env.stamp(paths) != before


def test_a_module_environment_is_resolved_against_its_site_and_the_host_it_layers(tmp_path):
    root = tmp_path / "envs" / "abc"
    module_site = root / "lib" / "python3.11" / "site-packages"
    install_distribution(module_site, "ck-dep", "3.0")  # the module pins its own version
    host = site_with_packages(tmp_path)
    (module_site / "zz_mlstudio_host.pth").write_text(f"{host}\n")
    python = str(root / "bin" / "python")
    assert env.module_env_paths(python) == [str(module_site), str(host)]

    environments = env.TaskEnvironments(tmp_path / "cache", lambda code: python)
    part = environments({"requirements": ["ck-dep==3.0"]}, {"imports": ["ck_app"]})
    # the module's ck-dep 3.0 shadows the host's 2.1 (and requires nothing, so no ck-leaf)
    assert part["packages"] == {"ck-app": "1.0", "ck-dep": "3.0"}
    # a task with no stored identity (planned before identities existed) gets everything
    assert environments({"requirements": ["x"]}, None)["all"] is True


def test_host_paths_leave_out_mlstudio_caches(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    inside = cache / "envs" / "x" / "site-packages"
    inside.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.syspath_prepend(str(inside))
    monkeypatch.syspath_prepend(str(outside))
    paths = env.host_paths(exclude=[cache])
    assert str(outside) in paths and str(inside) not in paths
