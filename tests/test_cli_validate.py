"""`validate` and `show` from the command line: output lines, exit codes, golden summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from webapp.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_validate_clean_input_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "samples/guestbook"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "0 errors, 0 warnings\n"


def test_validate_prints_file_line_col_severity_message_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "tests/data/bad/node-port.yaml", "tests/data/bad/selector-warnings.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "tests/data/bad/node-port.yaml:3:60: error: nodePort 29999 is outside the range 30000-32767 "
        "(services[0].ports[0].nodePort) (hint: pick a port in the range, or change network.nodePortRange)",
        "tests/data/bad/node-port.yaml:5:60: error: nodePort 30080 is already used by default/b "
        "(services[2].ports[0].nodePort)",
        "tests/data/bad/selector-warnings.yaml:7:30: warning: selector app=nobody of Service default/nobody "
        "matches no pod (services[0].selector)",
        "tests/data/bad/selector-warnings.yaml:8:70: warning: no pod selected by Service default/web has a port "
        "named 'http' (services[1].ports[0].targetPort)",
    ]
    assert err == "2 errors, 2 warnings\n"


def test_validate_warnings_only_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "tests/data/bad/selector-warnings.yaml"]) == 0


def test_validate_verbose_adds_notices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-v", "tests/data/manifests/workloads.yaml"]) == 0
    out, _ = capsys.readouterr()
    assert "tests/data/manifests/workloads.yaml:58:1: notice: skipped 2 Secret objects: not part of the network " \
           "model" in out.splitlines()


def test_validate_max_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--max-bytes", "100", "samples/seed-article.yaml"]) == 1
    out, _ = capsys.readouterr()
    assert out.startswith("samples/seed-article.yaml:1:1: error: file is 0.0 MB, over the 0.0 MB limit")


@pytest.mark.parametrize("case", ["syntax", "duplicate-key", "unsafe-tag", "unknown-tag", "alias-bomb", "deep",
                                  "binary", "empty", "pod-ip-outside", "duplicate-pod-ip", "duplicate-cluster-ip",
                                  "node-port", "unknown-key"])
def test_validate_each_bad_input_exits_1_naming_file_and_line(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", f"tests/data/bad/{case}.yaml"]) == 1
    out, _ = capsys.readouterr()
    assert out.splitlines() == (ROOT / "tests" / "data" / "bad" / f"{case}.expected").read_text().splitlines()


def test_show_default_sample_matches_golden(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show"]) == 0
    out, _ = capsys.readouterr()
    assert out == (GOLDEN / "show-seed-article.txt").read_text()


def test_show_with_errors_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "tests/data/bad/duplicate-pod-ip.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: pod IP 10.244.1.5 of default/web-2 is already used by default/web-1" in err


def test_show_unknown_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "seed-article", "--node", "node-9"]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines()[-1] == "no node named 'node-9'; nodes: node-1, node-2"


def test_show_node_prints_the_datapath_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "seed-article", "--node", "node-1"]) == 0
    out, _ = capsys.readouterr()
    summary, tables = out.split("\nDatapath of node-1\n")
    assert summary == (GOLDEN / "show-seed-article.txt").read_text()
    assert "10.244.1.2" in tables and "docker0" in tables


def test_module_entry_point_runs_validate() -> None:
    done = subprocess.run([sys.executable, "-m", "webapp", "validate", "tests/data/bad/empty.yaml"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (done.returncode, done.stdout) == (1, "tests/data/bad/empty.yaml:1:1: error: file is empty\n")
