"""Commands that read files: one size limit (`--max-bytes`, default 50 MB, the upload limit) on every one of
them, `validate --sample`, and each warning printed once (issue 17, items 10 and 12)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from webapp.cli import build_parser, main
from webapp.cli_text import HELP_ZH
from webapp.loaders.documents import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
READING_COMMANDS = ("validate", "show", "trace", "rules", "policy", "lesson", "serve", "lab up", "lab verify",
                    "lab fault", "export image", "export animation", "export handout", "export lesson")
"""Every command that reads cluster or lesson files."""


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _subparser(parser: argparse.ArgumentParser, path: str) -> argparse.ArgumentParser:
    for word in path.split():
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def test_the_local_file_limit_is_the_upload_limit() -> None:
    from webapp.app.limits import DEFAULT_MAX_UPLOAD_MB

    assert MAX_BYTES == 50_000_000 == DEFAULT_MAX_UPLOAD_MB * 1_000_000


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_every_command_that_reads_files_takes_max_bytes(command: str) -> None:
    parser = _subparser(build_parser(), command)
    option = next(a for a in parser._actions if "--max-bytes" in a.option_strings)
    assert (option.default, option.type, option.help) == (
        50_000_000, int, "size limit of one input file in bytes (default 50000000)")
    assert HELP_ZH[f"{command}:--max-bytes"] == "单个输入文件的大小上限，单位字节（默认 50000000）"


def _padded(tmp_path: Path, megabytes: int) -> Path:
    """The seed article's cluster followed by `megabytes` MB of YAML comment lines."""
    text = (ROOT / "samples" / "seed-article.yaml").read_text()
    line = "# " + "x" * 97 + "\n"
    path = tmp_path / "big.yaml"
    path.write_text(text + line * (megabytes * 10_000))
    return path


def test_trace_opens_a_file_over_the_old_10_mb_limit_with_no_flag(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    big = _padded(tmp_path, 12)
    assert 12_000_000 < big.stat().st_size < 13_000_000
    assert main(["trace", str(big), "--from", "pod/default/api-1", "--to", "pod/default/api-2:8080"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "pod-to-pod-cross-node: pod/default/api-1 → pod/default/api-2:8080 (tcp)"
    assert err == ""


@pytest.mark.parametrize("argv", [
    ["trace", "--from", "pod/default/api-1", "--to", "pod/default/api-2:8080"],
    ["rules", "--node", "node-1"],
    ["policy", "--port", "80"],
    ["show"],
    ["validate"],
])
def test_max_bytes_limits_every_command(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = _padded(tmp_path, 1)
    assert main([argv[0], str(big), "--max-bytes", "500000", *argv[1:]]) == 1
    out, err = capsys.readouterr()
    assert f"{big}:1:1: error: file is 1.0 MB, over the 0.5 MB limit (hint: split the input, or raise the limit " \
           "(--max-bytes))" in (out + err).splitlines()


def test_validate_takes_a_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--sample", "flannel-vxlan"]) == 0
    assert capsys.readouterr() == ("", "0 errors, 0 warnings\n")
    assert main(["validate", "--sample", "nope"]) == 2
    assert capsys.readouterr().err == ("k8s-netviz validate: no sample named 'nope'; samples: seed-article, "
                                       "flannel-host-gw, flannel-vxlan, guestbook, policy-shop\n")
    assert main(["validate"]) == 2
    assert capsys.readouterr().err == "k8s-netviz validate: give PATHs or --sample NAME (one of the two)\n"
    assert main(["validate", "samples/seed-article.yaml", "--sample", "guestbook"]) == 2


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_trace_prints_each_warning_once(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "tests/data/bad/selector-warnings.yaml", "--from", "pod/default/web-1",
                 "--to", "svc/default/nobody:80", *extra]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "tests/data/bad/selector-warnings.yaml:7:30: warning: selector app=nobody of Service default/nobody "
        "matches no pod (services[0].selector)",
        "tests/data/bad/selector-warnings.yaml:8:70: warning: no pod selected by Service default/web has a port "
        "named 'http' (services[1].ports[0].targetPort)",
    ]
    assert "warning" not in out
