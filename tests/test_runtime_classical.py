"""The runtime with the real classical (GrabCut) backend: same answers from a disk-restored
embedding as from a fresh one, across two runtimes (as across two sessions)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from model_runtime.api import Prompts
from model_runtime.runtime import Runtime, RuntimeConfig

WAIT = 300.0


def test_predict_from_a_disk_restored_embedding_equals_a_fresh_one(media_dir, tmp_path):
    with Image.open(media_dir / "dog.jpg") as img:
        photo = np.asarray(img.convert("RGB"))
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache")
    outputs = []
    for expected in ("computed", "disk"):
        rt = Runtime(config)
        try:
            rt.load_model("classical").result(WAIT)
            assert rt.encode("dog-hash", 0, lambda: photo).result(WAIT).source == expected
            result = rt.predict(
                "dog", "dog-hash", 0, Prompts(points=[(400, 300)], labels=[1], box=(200, 100, 650, 500))
            )
            outputs.append(result.result(WAIT).prediction)
        finally:
            rt.close()
    fresh, restored = outputs
    assert np.asarray(fresh.masks).any()
    assert np.array_equal(fresh.masks, restored.masks)
    assert np.array_equal(fresh.scores, restored.scores)
    assert np.array_equal(fresh.low_res_logits, restored.low_res_logits)
