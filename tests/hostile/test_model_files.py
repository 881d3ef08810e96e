"""Hostile model files and images through ``load_model``, ``samdesk models add`` and
``samdesk precompute``: never a traceback or a crash, always a clear message naming the file.

Everything hostile runs in a child process under a memory limit (``tests/hostile/limits.py``);
one child handles a whole batch of files (``tests/hostile/model_probes.py``) because starting
torch costs seconds. The random-weight checkpoints (MobileSAM for SAM 1's layout, the same in
PyTorch's legacy non-zip format, SAM 2.1 tiny) are built once per module.
"""

from __future__ import annotations

import json
import pickle
import random
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

import tests.oracles  # noqa: F401  (torchvision shim before the official packages)
from tests.hostile.limits import Outcome, run_cli, run_python

# Few examples, each a whole batch of files in one child; no shrinking (each try is a child
# process): the assertion message lists every failing input instead.
FUZZ = settings(
    max_examples=2, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PYTORCH_ADVICE = ("weights_only", "Re-running", "add_safe_globals")


def _results(outcome: Outcome) -> list[dict]:
    """The per-file JSON lines of a probe; fails the test if the child itself crashed."""
    lines = [json.loads(line) for line in outcome.stdout.splitlines() if line.startswith("{")]
    done = {r["label"] for r in lines if "result" in r}
    unfinished = [r["start"] for r in lines if "start" in r and r["start"] not in done]
    assert outcome.returncode == 0 and not unfinished, (
        f"the child died on {unfinished[:1]}\n{outcome.describe()}"
    )
    return [r for r in lines if "result" in r]


def _probe(whats: list[str], paths: list[Path], models_root: Path | None = None) -> dict[str, dict]:
    """Results by entry point, then by path (see ``model_probes.probe``)."""
    code = (
        "from tests.hostile.model_probes import probe\n"
        f"probe({whats!r}, {[str(p) for p in paths]!r}, {str(models_root) if models_root else None!r})"
    )
    results: dict[str, dict] = {what: {} for what in whats}
    for row in _results(run_python(code)):
        results[row["what"]][row["path"]] = row
    return results


def _escaped(results: dict[str, dict] | list[dict]) -> list[str]:
    rows = results.values() if isinstance(results, dict) else results
    return [
        f"{r.get('label', r['path'])}: {r.get('type')}: {r.get('message', '')[:200]}\n"
        f"{r.get('traceback', '')}"
        for r in rows if r["result"] == "escaped"
    ]


# --- checkpoint files -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-weight checkpoints in the official layouts (built as the parity tests build them)."""
    pytest.importorskip("mobile_sam")
    pytest.importorskip("sam2")
    from tests.oracles import sam2 as sam2_oracle
    from tests.oracles.sam1 import cached_checkpoint

    folder = tmp_path_factory.mktemp("layouts")
    mobile = cached_checkpoint(tmp_path_factory, "vit_t")
    legacy = folder / "mobile_sam_legacy.pt"
    torch.save(torch.load(mobile, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    sam21 = sam2_oracle.make_checkpoint("sam2.1", "hiera_t", folder / "sam2.1_tiny.pt", seed=5)
    return {"mobilesam": mobile, "legacy": legacy, "sam2.1": sam21}


class _RunsCode:
    def __reduce__(self):
        return (print, ("code from the file ran",))


def _onnx_bytes() -> bytes:
    """A minimal ONNX ModelProto: ir_version 8, producer "pytorch", an empty graph, opset 17."""
    graph = b"\x12\x0amain_graph"
    return b"\x08\x08\x12\x07pytorch\x1a\x052.1.0:" + bytes([len(graph)]) + graph + b"B\x02\x10\x11"


def _safetensors_bytes() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 8


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, layouts: dict[str, Path]) -> dict[str, Path]:
    """Files named like checkpoints that are not usable ones, by what is wrong with them."""
    folder = tmp_path_factory.mktemp("bad_checkpoints")
    files: dict[str, bytes | None] = {
        "text": b"hello, this is not a model\nsecond line\n",
        "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17,
        "html": b"<!DOCTYPE html><html><body>403 Forbidden</body></html>",
        "empty": b"",
        "safetensors": _safetensors_bytes(),
        "onnx": _onnx_bytes(),
        "zip": None, "runs_code": None, "plain_pickle": None, "list": None, "int_keys": None,
        "folder": None,
    }
    paths = {}
    for name, data in files.items():
        path = folder / f"{name}.pt"
        if data is not None:
            path.write_bytes(data)
        paths[name] = path
    with zipfile.ZipFile(paths["zip"], "w") as archive:
        archive.writestr("readme.txt", "a zip archive, not a model")
    runs_code = {"image_encoder.patch_embed.proj.weight": torch.zeros(1), "x": _RunsCode()}
    torch.save(runs_code, paths["runs_code"])
    paths["plain_pickle"].write_bytes(pickle.dumps({"w": torch.zeros(1), "x": _Marker(folder / "code_ran")}))
    torch.save([torch.zeros(2)], paths["list"])
    torch.save({1: torch.zeros(2), 2: torch.ones(2)}, paths["int_keys"])
    paths["folder"].mkdir()
    state = torch.load(layouts["sam2.1"], weights_only=True, mmap=True)["model"]
    token, gamma = "sam_mask_decoder.iou_token.weight", "memory_encoder.fuser.layers.0.gamma"
    for name, key, value in (
        ("sam21_missing_key", token, None),
        ("sam21_wrong_shape", token, torch.zeros(2, 256)),
        ("sam21_nan", gamma, torch.full((256,), float("nan"))),
    ):
        broken = dict(state)
        if value is None:
            del broken[key]
        else:
            broken[key] = value
        paths[name] = folder / f"{name}.pt"
        torch.save({"model": broken}, paths[name])
    return paths


@pytest.fixture(scope="module")
def bad_file_results(bad_files: dict[str, Path], tmp_path_factory) -> dict[str, dict[str, dict]]:
    """``load_model`` and ``samdesk models add`` on every bad file, in one child process."""
    results = _probe(["load", "add"], list(bad_files.values()), tmp_path_factory.mktemp("models"))
    by_name = {name: str(path) for name, path in bad_files.items()}
    return {what: {name: rows[path] for name, path in by_name.items()} for what, rows in results.items()}


@pytest.fixture(scope="module")
def add_results(bad_file_results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    return bad_file_results["add"]


@pytest.fixture(scope="module")
def load_results(bad_file_results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    return bad_file_results["load"]


def test_a_text_file_is_one_clear_line_from_the_real_cli(bad_files: dict[str, Path], tmp_path: Path) -> None:
    outcome = run_cli("models", "--dir", str(tmp_path / "models"), "add", str(bad_files["text"]))
    assert outcome.returncode == 1 and not outcome.traceback, outcome.describe()
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(bad_files["text"]) in lines[0], outcome.describe()
    assert "text file" in lines[0]
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_models_add_refuses_every_bad_file_and_copies_nothing(add_results: dict[str, dict]) -> None:
    assert not _escaped(add_results), "\n".join(_escaped(add_results))
    for name, result in add_results.items():
        assert result["result"] == "refused", (name, result)
        assert result["installed"] == [], f"{name}: added anyway: {result['installed']}"
        lines = [line for line in result["stderr"].splitlines() if line.strip()]
        assert len(lines) == 1 and f"{name}.pt" in lines[0], (name, result["stderr"])


def test_load_model_refuses_every_bad_file_naming_it(load_results: dict[str, dict], bad_files) -> None:
    assert not _escaped(load_results), "\n".join(_escaped(load_results))
    for name, result in load_results.items():
        assert result["result"] == "refused", (name, result)
        assert str(bad_files[name]) in result["message"], (name, result)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("text", "text file"), ("gif", "GIF image"), ("png", "PNG image"), ("html", "HTML page"),
        ("safetensors", "safetensors file"), ("onnx", "ONNX model"),
        ("zip", "zip archive that is not a PyTorch checkpoint"), ("empty", "empty"),
        ("folder", "folder"), ("runs_code", "would run code"), ("plain_pickle", "could run code"),
        ("list", "holds a list"),
        ("int_keys", "not text"),
    ],
)
def test_the_message_says_what_the_file_is_without_pytorch_advice(
    load_results: dict[str, dict], add_results: dict[str, dict], bad_files, name: str, says: str
) -> None:
    for message in (load_results[name]["message"], add_results[name]["stderr"]):
        assert says in message, message
        assert not any(advice in message for advice in PYTORCH_ADVICE), message
    assert "code from the file ran" not in add_results["runs_code"]["stderr"]
    assert not (bad_files["plain_pickle"].parent / "code_ran").exists()


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("sam21_missing_key", "sam_mask_decoder.iou_token.weight"),
        ("sam21_wrong_shape", "sam_mask_decoder.iou_token.weight"),
        ("sam21_nan", "memory_encoder.fuser.layers.0.gamma"),
    ],
)
def test_a_broken_sam21_file_is_refused_by_load_and_add_alike(
    load_results: dict[str, dict], add_results: dict[str, dict], name: str, says: str
) -> None:
    assert says in load_results[name]["message"]
    assert says in add_results[name]["stderr"]
    if name == "sam21_nan":
        assert "not finite" in load_results[name]["message"]


PREFIXES = [
    b"", b"PK\x03\x04", b"PK\x05\x06", b"\x80\x02", b"\x80\x04\x95", b"GIF89a", b"\x89PNG\r\n\x1a\n",
    b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",  # the magic number of PyTorch's legacy format
    b"{", b"<html>", b"\x08\x08\x12", b"\x10\x00\x00\x00\x00\x00\x00\x00{",
]


def _random_files(folder: Path, seed: int, count: int) -> list[Path]:
    """``count`` files of random bytes (1 byte to 4 KiB), most after a real format's first bytes."""
    rng = random.Random(seed)
    paths = []
    for index in range(count):
        paths.append(folder / f"random{index}.pt")
        prefix = rng.choice(PREFIXES) if rng.random() < 0.7 else b""
        paths[-1].write_bytes(prefix + rng.randbytes(rng.choice([1, 2, 8, 64, 512, 4096])))
    return paths


@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_random_bytes_are_checkpoint_errors(tmp_path_factory, seed: int) -> None:
    """Random files (the issue's experiment: 73 of 400 escaped) all end as CheckpointErrors."""
    paths = _random_files(tmp_path_factory.mktemp("random_bytes"), seed, 200)
    results = _probe(["read"], paths)["read"]
    assert not _escaped(results), "\n".join(_escaped(results)[:10])
    for path in paths:
        assert results[str(path)]["result"] == "refused" and str(path) in results[str(path)]["message"]


def _mutations(seed: int, count: int) -> list[dict]:
    """Bit flips, mostly in the pickled structure (where a flip changes keys, shapes, dtypes and
    storage offsets), and truncations; see ``model_probes.mutate``."""
    rng = random.Random(seed)
    regions = ["pickle"] * 6 + ["headers", "directory", "tensors"]
    return [
        {"kind": "flip", "region": rng.choice(regions), "at": rng.random(), "bit": rng.randrange(8)}
        if rng.random() < 0.8 else {"kind": "truncate", "at": rng.random()}
        for _ in range(count)
    ]


@FUZZ
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_damaged_real_layouts_load_or_are_checkpoint_errors(
    layouts: dict[str, Path], tmp_path_factory, seed: int
) -> None:
    """Damaged copies of real layouts each load or are a CheckpointError naming the file."""
    changes = _mutations(seed, 8)
    code = (
        "from tests.hostile.model_probes import mutate\n"
        f"mutate({ {k: str(v) for k, v in layouts.items()}!r}, {changes!r}, "
        f"{str(tmp_path_factory.mktemp('mutants'))!r})"
    )
    results = _results(run_python(code))
    assert len(results) == len(changes) * len(layouts)
    assert not _escaped(results), "\n".join(_escaped(results))
    unnamed = [r for r in results if r["result"] == "refused" and r["path"] not in r["message"]]
    assert not unnamed, unnamed


class _Marker:
    """Unpickling this would create the file ``path``: a pickle that runs code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


# --- images through samdesk precompute --------------------------------------------------------


def _png(path: Path, width: int, height: int, *, rows: bool = True) -> Path:
    """An 8-bit palette PNG written row by row (a huge one costs no memory to make); without
    ``rows`` only the header is there, claiming the size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    palette = bytes(v for i in range(256) for v in (i, 255 - i, i // 2))
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", palette))
        if rows:
            packer = zlib.compressobj(9)
            row = b"\x00" + bytes(range(256)) * (width // 256) + bytes(width % 256)
            data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
            out.write(chunk(b"IDAT", data))
        out.write(chunk(b"IEND", b""))
    return path


HUGE_SIDE = 13_000  # 169 megapixels: under Pillow's bomb limit (179) and ours (400)


@pytest.fixture(scope="module")
def huge_palette_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _png(tmp_path_factory.mktemp("huge") / "huge_palette.png", HUGE_SIDE, HUGE_SIDE)


def test_a_huge_palette_png_decodes_within_a_bounded_memory(huge_palette_png: Path) -> None:
    """169 MP decode to a 507 MB RGB array; reading it used to peak at 2 GB (four full copies)."""
    code = f"""
        from model_runtime.media import read_image
        image = read_image({str(huge_palette_png)!r})
        print(image.shape, image[5, :3].tolist(), image[-1, 255].tolist())
    """
    outcome = run_python(code, memory=1_300 << 20)
    assert outcome.returncode == 0, outcome.describe()
    expected = f"({HUGE_SIDE}, {HUGE_SIDE}, 3) [[0, 255, 0], [1, 254, 0], [2, 253, 1]] [255, 0, 127]"
    assert outcome.stdout.split() == expected.split()


def test_sam2_preprocessing_of_a_huge_image_stays_within_a_bounded_memory() -> None:
    """64 MP: a float32 copy of the whole image would be 768 MB (and the old code made two)."""
    code = """
        import numpy as np
        from model_runtime.models.sam2.transforms import preprocess_image
        image = np.full((8000, 8000, 3), 200, dtype=np.uint8)
        print(tuple(preprocess_image(image).shape))
    """
    outcome = run_python(code, memory=1_600 << 20)
    assert outcome.returncode == 0 and "(1, 3, 1024, 1024)" in outcome.stdout, outcome.describe()


@pytest.fixture(scope="module")
def hostile_images(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> dict[str, Path]:
    """Images that decode (odd shapes and pixel formats) and files that do not, by name."""
    folder = tmp_path_factory.mktemp("hostile_images")
    rng = np.random.default_rng(0)
    good = {
        "wide.png": rng.integers(0, 256, (1, 5000, 3), dtype=np.uint8),
        "tall.png": rng.integers(0, 256, (5000, 1, 3), dtype=np.uint8),
        "alpha.png": rng.integers(0, 256, (120, 90, 4), dtype=np.uint8),
    }
    paths = {}
    for name, pixels in good.items():
        paths[name] = folder / name
        Image.fromarray(pixels).save(paths[name])
    paths["deep.png"] = folder / "deep.png"
    Image.fromarray(rng.integers(0, 65536, (80, 60), dtype=np.uint16)).save(paths["deep.png"])
    paths["cmyk.jpg"] = folder / "cmyk.jpg"
    Image.fromarray(good["alpha.png"], "RGBA").convert("CMYK").save(paths["cmyk.jpg"])
    paths["truncated.jpg"] = folder / "truncated.jpg"
    data = (media_dir / "dog.jpg").read_bytes()
    paths["truncated.jpg"].write_bytes(data[: len(data) // 3])
    paths["empty.jpg"] = folder / "empty.jpg"
    paths["empty.jpg"].write_bytes(b"")
    paths["notes.png"] = folder / "notes.png"
    paths["notes.png"].write_text("not an image")
    paths["bomb.png"] = _png(folder / "bomb.png", 30_000, 30_000, rows=False)
    paths["folder.jpg"] = folder / "folder.jpg"
    paths["folder.jpg"].mkdir()
    return paths


GOOD_IMAGES = ("wide.png", "tall.png", "alpha.png", "deep.png", "cmyk.jpg")


def test_precompute_encodes_odd_images_and_names_each_bad_one(
    hostile_images: dict[str, Path], tmp_path: Path
) -> None:
    """GrabCut keeps this quick: reading the images is the same for every model, and each SAM
    family encodes these shapes in tests/test_image_extremes.py."""
    project = tmp_path / "hostile.samdesk.json"
    project.write_text(json.dumps({"media": [{"path": str(p)} for p in hostile_images.values()]}))
    outcome = run_cli("precompute", str(project), "--model", "classical", "--cache-dir", str(tmp_path / "c"))
    assert outcome.returncode == 1 and not outcome.traceback, outcome.describe()
    # A folder is skipped when the images are collected; every other bad file fails to encode.
    bad = len(hostile_images) - len(GOOD_IMAGES) - 1
    assert f"done: {len(GOOD_IMAGES)} computed, 0 already cached, {bad} failed" in outcome.stderr
    lines = [
        line.split(marker, 1)[1]
        for line in outcome.stderr.splitlines()
        for marker in ("failed: ", "skipping ")
        if line.lstrip().startswith(marker)
    ]
    reasons = {Path(path).name: reason for path, reason in (line.split(": ", 1) for line in lines)}
    assert set(reasons) == set(hostile_images) - set(GOOD_IMAGES), outcome.describe()
    assert all(reason.strip() for reason in reasons.values()), reasons
    assert "too large" in reasons["bomb.png"] and "folder" in reasons["folder.jpg"]
    assert "truncated" in reasons["truncated.jpg"] and "not an image" in reasons["notes.png"]
