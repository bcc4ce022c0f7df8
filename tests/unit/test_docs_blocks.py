"""How the docs test reads Markdown: blocks, markers, documented errors, id placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.testing.docs import DocError, Ids, ShellSession, documented_prefix, parse_doc

DOC = """# A guide

```bash
mlstudio whoami                  # a comment stays on the line
# a comment line is not a command
mlstudio data import a.csv \\
    --name shop/a
cat > notes.txt <<'EOF'
one
EOF
```

<!-- docs-test: skip (illustrative: a team's own host) -->
```bash
mlstudio server --host 0.0.0.0
```

<!-- docs-test: server -->
```console
$ mlstudio runs list
run_01a2…  succeeded
$ mlstudio data approve dcl_01a2…
error: alice may not approve declassifier dcl_01a2…: they created it (…)
```

<!-- docs-test: file gov/module.toml -->
```toml
[module]
name = "shop/gov"
```

```python
print("not a shell block: ignored")
```

<!-- docs-test: instead `mlstudio quickstart` (installed already) -->
```bash
pip install mlstudio && mlstudio quickstart
```
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_blocks_markers_and_commands_in_document_order(tmp_path):
    blocks = parse_doc(write(tmp_path, DOC))
    assert [(b.lang, b.mode) for b in blocks] == [
        ("bash", "run"),
        ("bash", "skip"),
        ("console", "server"),
        ("toml", "file"),
        ("bash", "instead"),
    ]
    first = blocks[0].commands
    assert [c.text for c in first] == [
        "mlstudio whoami                  # a comment stays on the line",
        "mlstudio data import a.csv \\\n    --name shop/a",
        "cat > notes.txt <<'EOF'\none\nEOF",
    ]
    assert [c.line for c in first] == [4, 6, 8]
    assert blocks[1].argument == "illustrative: a team's own host" and not blocks[1].commands
    listed, approve = blocks[2].commands
    assert listed.error is None  # sample output that is not an error line
    assert approve.error == "alice may not approve declassifier dcl_01a2…: they created it (…)"
    assert blocks[3].argument == "gov/module.toml" and 'name = "shop/gov"' in blocks[3].body
    assert blocks[4].argument == "mlstudio quickstart"


def test_a_documented_error_is_matched_up_to_the_first_ellipsis():
    assert documented_prefix("x is y: z would lower it (manual only) (…)") == (
        "x is y: z would lower it (manual only)"
    )
    assert documented_prefix("domain d does not exist (did you mean e? …") == (
        "domain d does not exist (did you mean e?"
    )
    assert documented_prefix("no ellipsis at all") == "no ellipsis at all"


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ("<!-- docs-test: skip -->", "needs a reason"),
        ("<!-- docs-test: skipp (typo) -->", "unknown marker"),
        ("<!-- docs-test: instead mlstudio quickstart -->", r"instead `COMMAND` \(why\)"),
    ],
)
def test_a_bad_marker_is_an_error_not_a_silent_skip(tmp_path, marker, problem):
    with pytest.raises(DocError, match=problem):
        parse_doc(write(tmp_path, f"{marker}\n```bash\nmlstudio whoami\n```\n"))


def test_a_marker_must_precede_a_block(tmp_path):
    with pytest.raises(DocError, match="must precede a block"):
        parse_doc(write(tmp_path, "<!-- docs-test: server -->\nsome prose\n```bash\nls\n```\n"))


def test_id_placeholders_take_the_newest_printed_id_of_their_kind():
    ids = Ids()
    ids.saw("✓ token tok_01a236d9a7ca5dd2cc011f for bob; run run_01a236d9a7ca5dd2cc0120")
    ids.saw("run run_01a236d9a7ca5dd2cc0fff started")
    assert ids.fill("mlstudio token revoke tok_01a2…") == (
        "mlstudio token revoke tok_01a236d9a7ca5dd2cc011f"
    )
    assert ids.fill("runs show run_… --explain") == "runs show run_01a236d9a7ca5dd2cc0fff --explain"
    with pytest.raises(DocError, match="dcl_01a2… stands for an id no earlier command printed"):
        ids.fill("mlstudio data approve dcl_01a2…")


def test_the_shell_session_keeps_variables_and_reports_each_exit_code(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shell = ShellSession(work, {"PATH": "/usr/bin:/bin"})
    try:
        assert shell.run("GREETING=hello; export NAME=docs", 30).code == 0
        said = shell.run('echo "$GREETING $NAME"; echo oops >&2', 30)
        assert (said.code, said.stdout, said.stderr) == (0, "hello docs\n", "oops\n")
        assert shell.run("false | true", 30).code == 1  # pipefail: a failing pipe fails
        assert shell.run("cat <<'EOF'\nline\nEOF", 30).stdout == "line\n"
        assert shell.run("exit_code() { return 3; }; exit_code", 30).code == 3
    finally:
        shell.close()
