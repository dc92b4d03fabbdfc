"""scorehmr_ros.provenance: what every artefact records about the code, command, machine and time."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from scorehmr_ros.provenance import git_describe, provenance


def test_provenance_fields_in_a_checkout(tmp_path):
    rec = provenance(argv=["scripts/x.py", "--stride", "2"])
    assert set(rec) == {"git_describe", "argv", "cpu_model", "threads", "python", "date", "load_avg"}
    assert rec["argv"] == ["scripts/x.py", "--stride", "2"]
    # (the tree changes under concurrent edits, so check that it names a commit of this checkout)
    rev = rec["git_describe"].removesuffix("-dirty")
    repo = Path(__file__).resolve().parents[1]
    assert rev != "unknown"
    check = subprocess.run(["git", "rev-parse", "--verify", rev + "^{commit}"], cwd=repo, capture_output=True)
    assert check.returncode == 0, rec["git_describe"]
    assert rec["cpu_model"] and rec["threads"]["cpu_count"] >= 1
    assert rec["python"] == ".".join(map(str, sys.version_info[:3]))
    date = dt.datetime.fromisoformat(rec["date"])
    assert date.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - date).total_seconds()) < 60
    json.dumps(rec)  # JSON-ready


def test_provenance_outside_git_and_threads(tmp_path, monkeypatch):
    assert git_describe(tmp_path) == "unknown"
    assert provenance(cwd=tmp_path)["git_describe"] == "unknown"
    monkeypatch.setattr(sys, "argv", ["prog", "-x"])
    assert provenance()["argv"] == ["prog", "-x"]
    import torch

    torch_threads = torch.get_num_threads()
    assert provenance()["threads"]["torch"] == torch_threads
    monkeypatch.delitem(sys.modules, "torch")
    assert "torch" not in provenance()["threads"]  # never imports torch itself


def test_dirty_checkout_is_marked(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    git("add", "f.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_describe(tmp_path)
    assert clean != "unknown" and not clean.endswith("-dirty")
    (tmp_path / "f.txt").write_text("b")
    assert git_describe(tmp_path) == clean + "-dirty"


def test_write_artefact_records_provenance_then_results(tmp_path):
    from scorehmr_ros.provenance import write_artefact

    path = tmp_path / "sub" / "a.json"
    out = write_artefact(path, "what it is", {"frames": 3}, results=[1, 2], extra={"k": 1})
    record = json.loads(out.read_text())
    assert list(record) == ["what", "provenance", "git_describe", "settings", "results", "extra"]
    assert record["what"] == "what it is" and record["settings"] == {"frames": 3}
    assert record["git_describe"] == record["provenance"]["git_describe"] and record["results"] == [1, 2]
