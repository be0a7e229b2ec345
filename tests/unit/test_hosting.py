"""Routes: every fine-tuned entry over one base and one set of load options goes to one
resident, which loads the base without the adapter; anything else keeps its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.models.spec import ModelSpec
from berth.pool.hosting import route
from berth.services.fine_tuned import adapter_spec
from berth.tasks.generate import AdapterRef, GenerationRequest
from tests.pools import runners

pytestmark = pytest.mark.unit
TRANSFORMERS = runners()["transformers"]
BASE = ModelSpec(
    alias="tiny-lm", task="chat", runner="transformers", source="local:/models/tiny",
    options={"pinned": True, "runner_options": {"max_tokens": 9}},
)  # fmt: skip


def tuned(alias: str, base: ModelSpec = BASE, files: str = "/models/tiny") -> ModelSpec:
    return adapter_spec(base, alias, Path(files), Path(f"/ft/{alias}"), "ab" * 32, "")


def test_adapters_over_one_base_share_a_resident_that_loads_the_base_alone() -> None:
    one, two = route(tuned("ft-one"), TRANSFORMERS), route(tuned("ft-two"), TRANSFORMERS)
    assert one.key == two.key and one.key.startswith("tiny-lm+adapters-")
    assert one.spec.alias == one.key and one.spec.source == "local:/models/tiny"
    assert one.spec.options.runner_options == {"max_tokens": 9}
    assert one.spec.options.pinned is False
    assert one.adapter == AdapterRef("ft-one", "/ft/ft-one", "ab" * 32)
    assert two.adapter is not None and two.adapter.name == "ft-two"


def test_other_load_options_or_bases_get_another_resident() -> None:
    halved = BASE.model_copy(
        update={"options": BASE.options.model_copy(update={"dtype": "float16"})}
    )
    specs = [tuned("ft-x"), tuned("ft-x", halved), tuned("ft-x", files="/models/other")]
    assert len({route(spec, TRANSFORMERS).key for spec in specs}) == 3


def test_the_base_and_runners_without_adapters_keep_their_own_resident() -> None:
    plain = route(BASE, TRANSFORMERS)
    assert (plain.key, plain.spec, plain.adapter) == ("tiny-lm", BASE, None)
    spec = tuned("ft-gguf").model_copy(update={"runner": "llama-cpp"})
    own = route(spec, runners()["llama-cpp"])
    assert (own.key, own.spec, own.adapter) == ("ft-gguf", spec, None)


def test_a_route_tags_generation_requests_with_its_adapter() -> None:
    to = route(tuned("ft-one"), TRANSFORMERS)
    request = GenerationRequest(prompt="hi")
    tagged, other = to.tag([request, "not a generation"])
    assert isinstance(tagged, GenerationRequest) and tagged.adapter == to.adapter
    assert tagged.prompt == "hi" and other == "not a generation"
    assert tagged.needs() == {"adapters"} and request.adapter is None
    assert route(BASE, TRANSFORMERS).tag([request]) == [request]
