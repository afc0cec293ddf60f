"""The message catalogue: one place for every sentence, every flow type labelled."""

import pytest

from webapp.app.catalog import ENGLISH, flow_type_label, text
from webapp.engine.flows import FlowType


def test_fields_are_filled_in():
    assert text("upload.too_big", file="big.yaml", size="61.25", limit="50") == (
        "big.yaml is 61.25 MB, over this server's upload limit of 50 MB. To load it, restart the server with a larger "
        "limit: k8s-netviz serve --max-upload-mb N")
    assert text("verdict.dropped", reason="no endpoints") == "Dropped: no endpoints"


def test_unknown_language_falls_back_to_english():
    assert text("hops.reply", language="xx") == "Reply"


@pytest.mark.parametrize("flow_type", list(FlowType))
def test_every_engine_flow_type_has_a_label(flow_type):
    assert f"flowtype.{flow_type}" in ENGLISH
    assert flow_type_label(flow_type) == ENGLISH[f"flowtype.{flow_type}"]


def test_unknown_flow_type_is_shown_as_is():
    assert flow_type_label("teleport") == "teleport"


def test_missing_key_is_an_error():
    with pytest.raises(KeyError):
        text("no.such.message")


def test_built_in_samples_are_titled_in_the_page_language():
    from webapp.loaders import list_samples
    from webapp.narration import narration_language

    from webapp.app.catalog import sample_title

    titles = {s.name: s.title for s in list_samples()}
    assert {name: sample_title(name, title) for name, title in titles.items()} == titles
    with narration_language("zh"):
        assert sample_title("seed-article", titles["seed-article"]) == "原文的集群"
        assert sample_title("my-upload", "Mine") == "Mine"
