"""The model part of a batch run, or of ``samdesk precompute``, on a Ray cluster (``--ray``).

The images become a Ray Data dataset (one row per image: media id, path, what to do); a pool of
actors, each of which loads the model once (one per GPU, or per ``cpus_per_worker`` CPUs),
maps it (``map_batches``), and the results stream back to this process as they are done, which
writes the project (or the embedding cache) exactly as a local run does. Every worker needs the
model file (or registry name) and the images at the same paths as here (a shared file system);
results (RLE masks, or embeddings for precompute) come back through Ray, so the project and the
cache stay on this machine. A worker that dies is restarted by Ray and its images are run again;
this process applies each image's result once.

This is the only module that imports Ray, and only when called (``pip install samdesk[cluster]``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from samdesk.labelling.found import ImageLabels, ModelUnusable, check_model, label_file
from samdesk.labelling.request import LabelRequest
from samdesk.labelling.run import WorkItem

if TYPE_CHECKING:
    from model_runtime.api import ImageEmbedding, ModelInfo

ModelLoaderFn = Callable[[str, str | None], Any]
MAX_BLOCKS = 10_000  # one image per block up to here: fine-grained streaming and retries


class RayMissing(ImportError):
    """Ray cannot be imported; the message says why and how to get it. The only ImportError the
    subcommands turn into a message: any other is a real failure and shows as one."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how to run. ``address``: a cluster address ("ray://head:10001", "auto",
    "10.0.0.5:6379"), None for Ray's default (``RAY_ADDRESS``, a cluster started on this
    machine with ``ray start``, else a new local one). ``workers``: actors (None: as many as the
    cluster's resources allow). ``gpus_per_worker`` None: 1 when the cluster has GPUs, else 0.
    ``device``: the model's device on the workers (None: "cuda" with a GPU, else "cpu").
    ``loader(source, device)`` builds the model on a worker (default ``model_runtime.load_model``);
    it must be importable there (pickled by reference)."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    device: str | None = None
    loader: ModelLoaderFn | None = None


@dataclass(frozen=True)
class _Resources:
    workers: int
    cpus: float
    gpus: float
    device: str
    threads: int


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RayMissing(
            f"--ray needs Ray: pip install 'samdesk[cluster]' (or pip install 'ray[data]'); "
            f"importing it failed: {exc}"
        ) from exc
    return ray


def _connect(ray: Any, config: ClusterConfig) -> bool:
    """Connect unless already connected; True when this call connected (so it disconnects)."""
    if ray.is_initialized():
        return False
    ray.init(address=config.address or None, logging_level=logging.WARNING, log_to_driver=False)
    return True


def _quiet_data(ray: Any) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # this process draws its own bar
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _resources(ray: Any, config: ClusterConfig, items: int) -> _Resources:
    total = ray.cluster_resources()
    gpus = config.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if total.get("GPU", 0) >= 1 else 0.0
    cpus = max(config.cpus_per_worker, 0.0)
    workers = config.workers
    if workers is None:
        by_gpu = math.floor(total.get("GPU", 0) / gpus) if gpus else None
        by_cpu = math.floor(total.get("CPU", 1) / cpus) if cpus else None
        workers = min(n for n in (by_gpu, by_cpu, items) if n is not None)
    device = config.device or ("cuda" if gpus else "cpu")
    return _Resources(max(1, min(workers, items)), cpus, gpus, device, max(1, int(cpus)))


def _load(source: str, device: str, loader: ModelLoaderFn | None, threads: int) -> Any:
    import torch

    torch.set_num_threads(threads)
    if loader is None:
        from model_runtime import load_model

        return load_model(source, device=device)
    return loader(source, device)


def _model_info(source: str, device: str, loader: ModelLoaderFn | None, threads: int) -> ModelInfo:
    return _load(source, device, loader, threads).info


def probe_model(ray: Any, model: str, res: _Resources, loader: ModelLoaderFn | None) -> ModelInfo:
    """Load the model once on a worker, as the actors will, for its id and capabilities: a bad
    file or name fails here with one clear error instead of in every actor."""
    remote = ray.remote(num_cpus=res.cpus, num_gpus=res.gpus, max_retries=0)(_model_info)
    try:
        return ray.get(remote.remote(model, res.device, loader, res.threads))
    except Exception as exc:
        cause = getattr(exc, "cause", None) or exc
        raise ModelUnusable(f"cannot use model {model} on the cluster: {cause}") from exc


class LabelWorker:
    """A Ray Data actor: loads the model once, then labels one row (image) per call."""

    def __init__(self, model: str, device: str, loader: ModelLoaderFn | None, threads: int) -> None:
        self.model = _load(model, device, loader, threads)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        out = []
        for media_id, path, request in zip(batch["media_id"], batch["path"], batch["request"], strict=True):
            labels = label_file(self.model, int(media_id), str(path), LabelRequest.from_json(str(request)))
            out.append(labels.to_json())
        return {"labels": out}


class EncodeWorker:
    """A Ray Data actor for precompute: loads the model once, encodes one row per call."""

    def __init__(self, model: str, device: str, loader: ModelLoaderFn | None, threads: int) -> None:
        self.model = _load(model, device, loader, threads)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        import torch

        from model_runtime.media import read_image

        keys, embeddings, errors = [], [], []
        for key, path in zip(batch["media_key"], batch["path"], strict=True):
            embedding, error = None, ""
            try:
                with torch.no_grad():
                    embedding = self.model.encode_image(read_image(str(path)))
                embedding = _to_cpu(embedding)
            except Exception as exc:
                error = str(exc) or type(exc).__name__
            keys.append(str(key))
            embeddings.append(embedding)
            errors.append(error)
        return {"media_key": keys, "embedding": embeddings, "error": errors}


def _to_cpu(embedding: ImageEmbedding) -> ImageEmbedding:
    """The embedding with its tensors on the CPU (what travels back; the cache stores CPU)."""
    import dataclasses

    def move(value: Any) -> Any:
        if hasattr(value, "detach") and hasattr(value, "cpu"):
            return value.detach().cpu()
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(move(v) for v in value)
        return value

    return dataclasses.replace(embedding, features=move(embedding.features))


def _mapped(ray: Any, rows: list[dict[str, Any]], worker: type, model: str, res: _Resources,
            loader: ModelLoaderFn | None) -> Iterator[dict[str, Any]]:
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
    mapped = dataset.map_batches(
        worker,
        fn_constructor_kwargs={
            "model": model, "device": res.device, "loader": loader, "threads": res.threads,
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=res.workers),
        num_cpus=res.cpus,
        num_gpus=res.gpus,
    )
    return mapped.iter_rows()


def label_on_ray(
    items: Sequence[WorkItem],
    request: LabelRequest,
    model: str,
    config: ClusterConfig,
    receive: Callable[[ImageLabels], None],
    on_model: Callable[[ModelInfo, int], None] | None = None,
) -> None:
    """Label ``items`` on the cluster, calling ``receive`` here with each image's labels as they
    stream back (in any order). ``on_model(info, workers)`` once the model is known good.
    Raises :class:`ModelUnusable`, :class:`RayMissing`; ``KeyboardInterrupt`` stops the
    dataset (and disconnects, when this call connected) and is raised again."""
    ray = _import_ray()
    connected = _connect(ray, config)
    try:
        _quiet_data(ray)
        res = _resources(ray, config, len(items))
        info = probe_model(ray, model, res, config.loader)
        try:
            check_model(info, request)
        except Exception as exc:
            raise ModelUnusable(str(exc)) from exc
        if on_model is not None:
            on_model(info, res.workers)
        rows = [{"media_id": i.media_id, "path": i.path, "request": i.request.to_json()} for i in items]
        for row in _mapped(ray, rows, LabelWorker, model, res, config.loader):
            receive(ImageLabels.from_json(row["labels"]))
    finally:
        if connected:
            ray.shutdown()


@dataclass
class EncodeOutcome:
    """What came back for one image: its embedding, or why there is none."""

    media_key: str
    embedding: ImageEmbedding | None
    error: str


def encode_on_ray(
    keys_and_paths: Sequence[tuple[str, str]],
    model: str,
    config: ClusterConfig,
    receive: Callable[[EncodeOutcome], None],
    on_model: Callable[[ModelInfo, int], list[tuple[str, str]]] | None = None,
) -> None:
    """Encode images on the cluster, calling ``receive`` here with each embedding (on the CPU)
    as it streams back. ``on_model(info, workers)`` returns the (media key, path) pairs still to
    encode once the model's id is known (e.g. those not in the local cache)."""
    ray = _import_ray()
    connected = _connect(ray, config)
    try:
        _quiet_data(ray)
        res = _resources(ray, config, max(1, len(keys_and_paths)))
        info = probe_model(ray, model, res, config.loader)
        todo = list(keys_and_paths) if on_model is None else on_model(info, res.workers)
        if not todo:
            return
        rows = [{"media_key": key, "path": path} for key, path in todo]
        for row in _mapped(ray, rows, EncodeWorker, model, res, config.loader):
            receive(EncodeOutcome(row["media_key"], row["embedding"], row["error"]))
    finally:
        if connected:
            ray.shutdown()
