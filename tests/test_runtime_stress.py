"""Many callers at once: every request ends exactly once (or is cancelled/superseded and silent),
and the runtime never deadlocks. Random operations from several threads, fixed seeds."""

from __future__ import annotations

import random
import threading

import pytest

from model_runtime.api import Prompts
from model_runtime.runtime import Callbacks, RequestState, Runtime, RuntimeConfig
from tests.runtime_doubles import WAIT, DoubleModel, Recorder, provider


@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_callers_get_exactly_one_outcome_per_live_request(tmp_path, seed):
    models = {"a": DoubleModel("a"), "b": DoubleModel("b")}
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache", memory_cache_bytes=60_000)
    rt = Runtime(config, loader=lambda s, d: models[s])
    rt.load_model("a").result(WAIT)
    rec = Recorder()
    handles = []
    cancelled = set()
    lock = threading.Lock()
    calls: dict[int, int] = {}
    base = rec.callbacks()

    def counting(kind):
        def cb(rid, *args):
            with lock:
                calls[rid] = calls.get(rid, 0) + (kind != "progress")
            getattr(base, f"on_{kind}")(rid, *args)

        return cb

    callbacks = Callbacks(counting("result"), counting("error"), counting("progress"))

    def job(ctx):
        for i in range(3):
            ctx.embedding(f"m{i}", 0, provider(i))
            yield i + 1, 3
        return "ok"

    def caller(k: int) -> None:
        r = random.Random(seed * 100 + k)
        for _ in range(40):
            op = r.random()
            marker = r.randrange(6)
            if op < 0.5:
                h = rt.predict(
                    f"obj{r.randrange(3)}",
                    f"m{marker}",
                    0,
                    Prompts(points=[(r.uniform(0, 60), r.uniform(0, 40))], labels=[1]),
                    image_provider=provider(marker),
                    callbacks=callbacks,
                )
            elif op < 0.8:
                h = rt.encode(
                    f"m{marker}", 0, provider(marker), prefetch=r.random() < 0.5, callbacks=callbacks
                )
            elif op < 0.9:
                h = rt.run_job(job, callbacks=callbacks)
            elif op < 0.95:
                h = rt.load_model(r.choice("ab"), callbacks=callbacks)
            else:
                h = rt.encode("none", 0, None, callbacks=callbacks)
            with lock:
                handles.append(h)
            if r.random() < 0.2 and h.cancel():
                with lock:
                    cancelled.add(h.request_id)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        for h in handles:
            assert h.wait(WAIT), f"{h} never finished"
        for h in handles:
            if h.request_id in cancelled or h.state is RequestState.SUPERSEDED:
                assert calls.get(h.request_id, 0) == 0, h
            else:
                assert h.state in (RequestState.DONE, RequestState.FAILED, RequestState.CANCELLED), h
                if h.state is not RequestState.CANCELLED:
                    assert calls.get(h.request_id) == 1, h
        assert rt.memory_cache.nbytes <= config.memory_cache_bytes
    finally:
        rt.close()
