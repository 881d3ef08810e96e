"""Two models at once (model_runtime/runtime/slots.py): a concept model in a second runtime beside
the click model. Synchronised on gates and callbacks, never on sleeps or durations."""

from __future__ import annotations

import os
import threading

import pytest

from model_runtime.api import Prompts
from model_runtime.runtime import EmbeddingKey, Runtime, RuntimeConfig
from model_runtime.runtime.slots import SECOND_SLOT_NICE_STEP, second_slot_config
from tests.runtime_doubles import WAIT, ConceptDouble, DoubleModel, Gate, Recorder, provider

CLICK = Prompts(points=[(10, 10)], labels=[1])


class NiceConcept(ConceptDouble):
    """Records the OS nice value of the thread each query runs on."""

    def __init__(self) -> None:
        super().__init__()
        self.query_nice: list[int] = []

    def find_all(self, embedding, prompts, threshold=0.5):
        if hasattr(os, "getpriority"):
            self.query_nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().find_all(embedding, prompts, threshold)


@pytest.fixture
def slots(tmp_path):
    models = {"click": DoubleModel("click"), "concept": NiceConcept(), "concept-b": NiceConcept()}
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1, background_threads=1)
    loader = lambda source, device: models[source]  # noqa: E731
    first = Runtime(config, loader=loader)
    second = Runtime(second_slot_config(config), loader=loader)
    first.load_model("click").result(WAIT)
    second.load_model("concept").result(WAIT)
    yield first, second, models
    first.close()
    second.close()


def test_clicks_are_answered_while_the_second_model_encodes(slots) -> None:
    first, second, models = slots
    clicks, queries = Recorder(), Recorder()  # request ids are per runtime
    gate = models["concept"].encode_gates["7"] = Gate()
    query = second.find_all("bar", "m7", 0, Prompts(text="cup"), image_provider=provider(7),
                            callbacks=queries.callbacks())
    assert gate.entered.wait(WAIT)  # the concept model is encoding image 7, held there
    click = first.predict("obj", "m7", 0, CLICK, image_provider=provider(7), callbacks=clicks.callbacks())
    clicks.wait(click.request_id)  # the click model encoded image 7 itself and answered
    assert click.request_id in clicks.results and not queries.reported(query.request_id)
    gate.release()
    queries.wait(query.request_id)
    assert len(queries.results[query.request_id].instances) == 2  # "cup": scores 1/3, 2/3, 1; > 0.5
    assert first.model_info.model_id == models["click"].info.model_id
    assert second.model_info.model_id == models["concept"].info.model_id


def test_each_slot_has_its_own_memory_cache_and_they_share_the_disk_directory(slots, tmp_path) -> None:
    first, second, models = slots
    first.encode("m3", 0, provider(3)).result(WAIT)
    second.encode("m3", 0, provider(3)).result(WAIT)
    click_key = EmbeddingKey("m3", 0, models["click"].info.model_id)
    concept_key = EmbeddingKey("m3", 0, models["concept"].info.model_id)
    assert first.memory_cache is not second.memory_cache
    assert click_key in first.memory_cache and click_key not in second.memory_cache
    assert concept_key in second.memory_cache and concept_key not in first.memory_cache
    assert first.disk_cache.root == second.disk_cache.root == tmp_path / "cache"
    click_file, concept_file = first.disk_cache.path_for(click_key), second.disk_cache.path_for(concept_key)
    assert click_file.is_file() and concept_file.is_file() and click_file != concept_file
    # A fresh second slot finds its embedding on disk: no encode.
    again = Runtime(second_slot_config(first.config), loader=lambda s, d: models[s])
    try:
        again.load_model("concept").result(WAIT)
        encodes = len(models["concept"].encode_log)
        assert again.encode("m3", 0, provider(3)).result(WAIT).source == "disk"
        assert len(models["concept"].encode_log) == encodes
    finally:
        again.close()


def test_a_model_swap_in_one_slot_fails_nothing_of_the_other(slots) -> None:
    first, second, models = slots
    rec = Recorder()
    gate = models["click"].encode_gates["5"] = Gate()
    click = first.predict("obj", "m5", 0, CLICK, image_provider=provider(5), callbacks=rec.callbacks())
    assert gate.entered.wait(WAIT)
    second.load_model("concept-b").result(WAIT)  # the user picks another concept model
    gate.release()
    rec.wait(click.request_id)
    assert click.request_id in rec.results and not rec.errors


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="per-thread nice values are Linux-only")
def test_the_second_slot_queries_run_below_the_first_slot_clicks(slots) -> None:
    first, second, models = slots
    assert second.config.interactive_nice == first.config.interactive_nice + SECOND_SLOT_NICE_STEP
    base = os.getpriority(os.PRIO_PROCESS, 0)
    second.find_all("bar", "m2", 0, Prompts(text="ab"), image_provider=provider(2)).result(WAIT)
    assert models["concept"].query_nice == [min(19, base + SECOND_SLOT_NICE_STEP)]
