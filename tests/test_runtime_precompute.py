"""``samdesk precompute``: fills the disk cache through the runtime, keyed like the GUI."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from model_runtime.runtime import DiskEmbeddingCache, EmbeddingKey, RuntimeConfig
from samdesk.cli import main
from samdesk.document import file_content_hash
from samdesk.subcommands.precompute import collect_images, precompute
from tests.runtime_doubles import DoubleModel, image_with_marker


def make_folder(root):
    (root / "sub").mkdir(parents=True)
    Image.fromarray(image_with_marker(1)).save(root / "a.png")
    Image.fromarray(image_with_marker(2)).save(root / "sub" / "b.png")
    (root / "notes.txt").write_text("not an image")
    (root / "clip.mp4").write_bytes(b"")
    return [root / "a.png", root / "sub" / "b.png"]


def test_collect_images_from_folder_file_and_project(tmp_path):
    images = make_folder(tmp_path / "media")
    found, skipped = collect_images(tmp_path / "media")
    assert found == sorted(images)
    assert [p.name for p, _ in skipped] == ["clip.mp4"]
    assert collect_images(images[0]) == ([images[0]], [])
    project = tmp_path / "p.samdesk.json"
    project.write_text(json.dumps({"media": [{"path": "media/sub/b.png", "kind": "image"}]}))
    assert collect_images(project)[0] == [images[1]]
    project.write_text(json.dumps({"media": [{"path": "gone.png"}]}))
    try:
        collect_images(project)
    except ValueError as exc:
        assert "gone.png" in str(exc)
    else:
        raise AssertionError("a project with missing media must be refused")


def test_precompute_fills_the_disk_cache_the_gui_reads(tmp_path):
    images = make_folder(tmp_path / "media")
    (tmp_path / "media" / "broken.jpg").write_bytes(b"not a jpeg")
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache")
    out = io.StringIO()
    paths = collect_images(tmp_path / "media")[0]
    code = precompute(paths, "double", None, config, out, loader=lambda s, d: DoubleModel("a"))
    assert code == 1, out.getvalue()  # the broken file is reported, the others are encoded
    assert "2 computed, 0 already cached, 1 failed" in out.getvalue()
    assert "broken.jpg" in out.getvalue()

    disk = DiskEmbeddingCache(tmp_path / "cache")
    for path in images:
        restored = disk.get(EmbeddingKey(file_content_hash(path), 0, "double-a"))
        assert restored is not None and restored.original_size == (48, 64)
        assert np.array_equal(restored.features["stats"], [48, 64])

    out = io.StringIO()
    assert precompute(images, "double", None, config, out, loader=lambda s, d: DoubleModel("a")) == 0
    assert "0 computed, 2 already cached" in out.getvalue()


def test_precompute_command_reports_bad_input_clearly(tmp_path, capsys):
    assert main(["precompute", str(tmp_path / "nowhere"), "--model", "x.pt"]) == 2
    assert "does not exist" in capsys.readouterr().err
    make_folder(tmp_path / "m")
    code = main(
        [
            "precompute",
            str(tmp_path / "m"),
            "--model",
            str(tmp_path / "missing.pt"),
            "--cache-dir",
            str(tmp_path / "c"),
        ]
    )
    assert code == 2
    assert "missing.pt" in capsys.readouterr().err


def test_a_failure_without_a_message_still_says_why(tmp_path, monkeypatch):
    """A MemoryError() has no message: the report names its type instead of printing nothing."""
    import model_runtime.media

    images = make_folder(tmp_path / "media")
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache")

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(model_runtime.media, "read_image", no_memory)
    out = io.StringIO()
    assert precompute(images[:1], "double", None, config, out, loader=lambda s, d: DoubleModel("a")) == 1
    failed = [line for line in out.getvalue().splitlines() if "failed:" in line]
    assert len(failed) == 1 and failed[0].endswith(": MemoryError"), out.getvalue()

    out = io.StringIO()
    assert precompute(images[:1], "double", None, config, out, loader=no_memory) == 2
    assert out.getvalue().strip().endswith("cannot load model double: MemoryError"), out.getvalue()
