"""Uploads over the limit in real headless Chromium, on a server started with a 1 MB limit (`serve
--max-upload-mb 1`): the browser refuses a 3.5 MB file and the page says which file, its size, the limit and how
to raise it; several files that together overflow the server's request limit get a message too, not a bare HTTP
413. Both times the cluster on screen stays as it was."""

from __future__ import annotations

import pytest
from conftest import serving
from helpers import pod_targets, wait_ready

pytestmark = pytest.mark.browser

KEPT = "The cluster on screen was kept as it was."


@pytest.fixture(scope="module")
def small_server_url(tmp_path_factory):
    """The app with a 1 MB upload limit (file limit 1,000,000 bytes; request limit 3,000,000 bytes: two files at the
    limit plus 1 MB for the multipart envelope, webapp/app/upload.py)."""
    with serving(cache=str(tmp_path_factory.mktemp("limit-cache")), max_upload_mb=1) as url:
        yield url


def _yaml_of(size: int) -> bytes:
    """`size` bytes of valid YAML (comments)."""
    line = b"# " + b"x" * 97 + b"\n"
    return (line * (size // len(line) + 1))[:size - 1] + b"\n"


def _screen(page) -> tuple[str, list[str]]:
    return page.inner_text("#cluster-name"), pod_targets(page)


def test_a_file_over_the_limit_is_refused_with_a_message(page, small_server_url, tmp_path, artifacts):
    page.goto(small_server_url)
    wait_ready(page)
    before = _screen(page)
    big = tmp_path / "big-cluster.yaml"
    big.write_bytes(_yaml_of(3_500_000))

    page.set_input_files("#upload input[type=file]", str(big))
    page.wait_for_selector(".upload-status .too-big")
    assert page.inner_text(".upload-status .too-big li") == (
        "big-cluster.yaml is 3.5 MB, over this server's upload limit of 1 MB. To load it, restart the server with "
        "a larger limit: k8s-netviz serve --max-upload-mb N")
    assert page.inner_text(".upload-status .kept") == KEPT
    page.wait_for_timeout(1_000)  # nothing else arrives: the file was never sent
    assert _screen(page) == before
    page.screenshot(path=str(artifacts / "upload-over-limit.png"))
    assert page.console_errors == []


def test_files_over_the_request_limit_get_a_message_not_a_413(page, small_server_url, tmp_path):
    page.goto(small_server_url)
    wait_ready(page)
    before = _screen(page)
    files = []
    for index in range(4):  # each under the 1 MB file limit; together over the 3 MB request limit
        path = tmp_path / f"part-{index}.yaml"
        path.write_bytes(_yaml_of(950_000))
        files.append(str(path))

    page.set_input_files("#upload input[type=file]", files)
    page.wait_for_selector(".upload-status .too-big")
    assert page.inner_text(".upload-status .too-big li") == (
        "The upload (3.8 MB as sent) is over this server's request limit of 3 MB. Upload fewer files at once, or "
        "restart the server with a larger --max-upload-mb")
    assert page.inner_text(".upload-status .kept") == KEPT
    assert _screen(page) == before
    assert page.console_errors == []
