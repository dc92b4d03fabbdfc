"""README result tables are generated from docs/eval/*.json (scripts/readme_tables.py) and agree."""

import contextlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "readme_tables.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("readme_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_tables = _load_script()


def _check(readme: Path, eval_dir: Path) -> subprocess.CompletedProcess:
    """``readme_tables.py --check`` in this process (the script's output captured)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = readme_tables.main(["--check", f"--readme={readme}", f"--eval-dir={eval_dir}"])
        except SystemExit as exc:
            rc, err = 2, io.StringIO(str(exc))
    return subprocess.CompletedProcess([], rc, out.getvalue(), err.getvalue())


def test_readme_tables_match_the_artefacts():
    out = subprocess.run(  # the command as a user runs it
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr


def test_check_fails_when_readme_or_artefact_changes(tmp_path):
    eval_dir = tmp_path / "eval"
    shutil.copytree(REPO / "docs" / "eval", eval_dir)
    readme = tmp_path / "README.md"
    text = (REPO / "README.md").read_text()
    readme.write_text(text)
    assert _check(readme, eval_dir).returncode == 0

    # A number edited by hand inside a generated block.
    start = text.index("<!-- table:scorehmr_heldout -->")
    row = text.index("| combined |", start)
    cells = text[row : text.index("\n", row)].split("|")
    broken = text[:row] + text[row:].replace(cells[2], " 1.0 ", 1)
    readme.write_text(broken)
    out = _check(readme, eval_dir)
    assert out.returncode == 1 and "disagrees" in out.stderr, out.stdout + out.stderr

    # An artefact re-run without regenerating the README.
    readme.write_text(text)
    record = json.loads((eval_dir / "node_topic.json").read_text())
    record["output_rate_hz"] += 1.0
    (eval_dir / "node_topic.json").write_text(json.dumps(record))
    out = _check(readme, eval_dir)
    assert out.returncode == 1 and "Hz" in out.stdout, out.stdout + out.stderr

    # Regenerating fixes it; text outside the blocks is untouched.
    assert readme_tables.main([f"--readme={readme}", f"--eval-dir={eval_dir}"]) == 0
    assert _check(readme, eval_dir).returncode == 0
    new = readme.read_text()
    assert new[:start] == text[:start]
    assert f"**{record['output_rate_hz']:.1f} Hz**" in new


def test_unknown_block_is_an_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- table:no_such_table -->\n<!-- /table -->\n")
    out = _check(readme, REPO / "docs" / "eval")
    assert out.returncode != 0 and "no_such_table" in out.stderr
