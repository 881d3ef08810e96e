"""Plugins: discovery through entry points (with a fake installed distribution, a test double on
sys.path, for the ways a plugin can be broken), and the two example plugins of ``plugins/``,
installed by ``make test``, used as users use them: the ``csv-boxes`` exporter from the CLI and
the export dialog, the ``threshold`` model backend through ``load_model`` and the runtime."""

from __future__ import annotations

import csv
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import model_runtime
from model_runtime.api import ImageModel, Prompts
from model_runtime.checkpoints import CheckpointError
from model_runtime.plugins import PluginError, discover_backends
from samdesk import cli
from samdesk.document import masks
from samdesk.document.boxes import box_only_frame
from samdesk.document.media_files import media_item_from_path
from samdesk.document.model import AnnotationObject, Category, Project
from samdesk.document.persistence import load_project, save_project
from samdesk.io.formats import BUILTIN_EXPORT_FORMATS, export_formats
from samdesk.io.plugins import discover_exporters, plugin_export_formats
from tests.io_fixtures import make_project

# entry-point group -> (entry point, distribution) of the example plugin in plugins/
EXAMPLES = {
    "samdesk.exporters": ("csv-boxes", "samdesk-csv-boxes"),
    "samdesk.model_backends": ("threshold", "samdesk-threshold"),
}

BACKEND_MODULE = '''
from model_runtime.models.classical.grabcut import GrabCutModel


class FakeBackendModel(GrabCutModel):
    """Test double: claims files ending in .fake and answers with GrabCut."""


def load(source, device):
    if not str(source).endswith(".fake"):
        return None
    model = FakeBackendModel()
    model.loaded_from = (str(source), device)
    return model


def broken(source, device):
    raise RuntimeError("this backend is broken")


def wrong_type(source, device):
    return "not a model"
'''

EXPORTER_MODULE = '''
from dataclasses import replace

from samdesk.io.formats import BUILTIN_EXPORT_FORMATS

FAKE_FORMAT = replace(BUILTIN_EXPORT_FORMATS["coco"], name="fake-format", description="a test double")
TAKEN = replace(BUILTIN_EXPORT_FORMATS["coco"], description="a plugin taking a built-in name")
NOT_A_FORMAT = "an exporter is an ExportFormat"
'''


def _install_fake_distribution(root: Path, entry_points: str, modules: dict[str, str]) -> None:
    dist_info = root / "samdesk_fake_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: samdesk-fake-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, source in modules.items():
        (root / f"{name}.py").write_text(source)


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _install_fake_distribution(
        site,
        """
        [samdesk.model_backends]
        a_broken = samdesk_fake_backend:broken
        b_wrong = samdesk_fake_backend:wrong_type
        c_fake = samdesk_fake_backend:load
        d_missing = samdesk_fake_backend_that_does_not_exist:load

        [samdesk.exporters]
        fake_format = samdesk_fake_exporter:FAKE_FORMAT
        not_a_format = samdesk_fake_exporter:NOT_A_FORMAT
        taken = samdesk_fake_exporter:TAKEN
        vanished = samdesk_fake_exporter_that_does_not_exist:FORMAT
        """,
        {"samdesk_fake_backend": BACKEND_MODULE, "samdesk_fake_exporter": EXPORTER_MODULE},
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("samdesk_fake_backend", "samdesk_fake_exporter"):
        sys.modules.pop(name, None)


def test_entry_points_are_discovered_without_importing(fake_plugin):
    backends = [p for p in discover_backends() if p.dist == "samdesk-fake-plugin"]
    assert [p.name for p in backends] == ["a_broken", "b_wrong", "c_fake", "d_missing"]
    assert "samdesk_fake_backend" not in sys.modules
    exporters = [p for p in discover_exporters() if p.dist == "samdesk-fake-plugin"]
    assert [(p.name, p.value) for p in exporters][0] == ("fake_format", "samdesk_fake_exporter:FAKE_FORMAT")
    assert "samdesk_fake_exporter" not in sys.modules


def test_missing_module_is_a_clear_plugin_error(fake_plugin):
    missing = next(p for p in discover_backends() if p.name == "d_missing")
    with pytest.raises(PluginError, match="d_missing.*failed to load"):
        missing.load()


def test_broken_exporter_plugins_are_left_out_and_named(fake_plugin, caplog):
    formats, problems = plugin_export_formats(BUILTIN_EXPORT_FORMATS)
    assert "fake-format" in [f.name for f in formats]
    assert "coco" not in [f.name for f in formats]  # a built-in name is never taken over
    text = "\n".join(problems)
    assert "'not_a_format'" in text and "not a samdesk.io.formats.ExportFormat" in text
    assert "'taken'" in text and "'coco', which is already taken" in text
    assert "'vanished'" in text and "failed to load" in text
    assert all(p in caplog.text for p in problems)  # and each is in the log
    offered = export_formats()
    assert offered["coco"] is BUILTIN_EXPORT_FORMATS["coco"] and "fake-format" in offered


def test_load_model_falls_back_to_backend_plugin(fake_plugin, tmp_path):
    source = tmp_path / "weights.fake"
    source.write_bytes(b"not a torch file")
    model = model_runtime.load_model(source, device="cpu")
    assert type(model).__name__ == "FakeBackendModel"
    assert model.loaded_from == (str(source), "cpu")
    emb = model.encode_image(np.zeros((32, 48, 3), dtype=np.uint8))
    assert emb.original_size == (32, 48)


def test_unclaimed_source_reports_plugin_problems(fake_plugin, tmp_path):
    source = tmp_path / "other.pt"
    torch.save({"some.weight": torch.zeros(1)}, source)
    with pytest.raises(CheckpointError) as err:
        model_runtime.load_model(source)
    message = str(err.value)
    assert "not a known SAM checkpoint" in message
    assert "a_broken: this backend is broken" in message
    assert "b_wrong: returned str" in message


def test_without_plugins_errors_are_unchanged(tmp_path):
    source = tmp_path / "other.pt"
    torch.save({"some.weight": torch.zeros(1)}, source)
    with pytest.raises(CheckpointError, match="not a known SAM checkpoint"):
        model_runtime.load_model(source)


# --- the example plugins (plugins/csv-boxes, plugins/threshold) -----------------------------


@pytest.fixture(scope="module")
def examples_installed() -> None:
    from model_runtime.plugins import discover

    for group, (name, dist) in EXAMPLES.items():
        if (name, dist) not in [(p.name, p.dist) for p in discover(group)]:
            pytest.fail(
                f"the example plugin {dist} is not installed: `make test` installs it "
                f"(pip install -e plugins/{name})",
                pytrace=False,
            )


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_boxes_is_an_export_format_of_the_cli(examples_installed, media_dir, tmp_path, capsys):
    project = make_project(media_dir)
    image = project.media[0]
    box = box_only_frame((10.4, 20.6, 300.2, 400.0), image.height, image.width)
    box_only = AnnotationObject(project.next_ids["object"], image.id, 2, {0: box})
    project.objects.append(box_only)
    project.next_ids["object"] += 1
    project_file = tmp_path / "p.samdesk.json"
    save_project(project, project_file)
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    assert "csv-boxes: bounding boxes as CSV" in " ".join(capsys.readouterr().out.split())

    out = tmp_path / "boxes.csv"
    assert cli.main(["export", str(project_file), "--format", "csv-boxes", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "video skipped (csv-boxes holds images)" in printed.err
    assert "object without a category skipped" in printed.err
    assert out.read_text().splitlines()[0] == "filename,width,height,class,xmin,ymin,xmax,ymax"
    rows = read_rows(out)
    names = {c.id: c.name for c in project.categories}
    media = {m.id: m for m in project.media}
    expected = []
    for obj in project.objects:
        item = media[obj.media_id]
        if item.kind.value != "image" or obj.category_id is None:
            continue
        if obj is box_only:
            box = (10, 20, 301, 400)  # the box prompt, rounded outwards to whole pixels
        else:
            x, y, w, h = masks.bbox(obj.frames[0].rle)
            box = (int(x), int(y), int(x + w), int(y + h))
        size = (str(item.width), str(item.height))
        expected.append((Path(item.path).name, *size, names[obj.category_id], *map(str, box)))
    got = [tuple(row.values()) for row in rows]
    assert sorted(got) == sorted(expected)
    assert f"{len(expected)} objects to {out}" in printed.out
    # An existing file is kept unless --overwrite: the plugin writes through samdesk's output rules.
    out.write_text("the user's file")
    assert cli.main(["export", str(project_file), "--format", "csv-boxes", "--out", str(out), "--quiet"]) == 1
    assert out.read_text() == "the user's file"
    # Each box is the mask's exact extent: every mask pixel is inside, and it touches all four sides.
    first = next(o for o in project.objects if o.media_id == 1 and o is not box_only)
    mask = masks.decode(first.frames[0].rle)
    ys, xs = np.nonzero(mask)
    row = rows[0]
    assert (int(row["xmin"]), int(row["ymin"]), int(row["xmax"]), int(row["ymax"])) == (
        xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    )


@pytest.mark.gui
def test_csv_boxes_is_offered_by_the_export_dialog_and_exports_from_the_gui(
    examples_installed, qtbot, media_dir, tmp_path
):
    from samdesk.ui.dialogs.export import ExportDialog
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    dialog = ExportDialog(make_project(media_dir), str(tmp_path))
    qtbot.addWidget(dialog)
    index = dialog.format_box.findData("csv-boxes")
    assert index >= 0 and "TensorFlow Object Detection" in dialog.format_box.itemText(index)
    dialog.format_box.setCurrentIndex(index)
    assert dialog.destination() == tmp_path / "annotations.csv"  # the format's own suffix
    assert "file" in dialog.destination_label.text().lower()

    window = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.document.replace_project(make_project(media_dir, with_video=False), None)
    out = tmp_path / "gui.csv"
    with qtbot.waitSignal(window.bridge.jobFinished, timeout=60_000):
        window.files.export("csv-boxes", out)
    rows = read_rows(out)
    assert {r["filename"] for r in rows} == {Path(m.path).name for m in window.document.project.media}


def disc_image() -> tuple[np.ndarray, np.ndarray]:
    """A noisy 240×320 photo-like image: a red disc on a grey-green background, and its mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:240, :320]
    disc = (yy - 120) ** 2 + (xx - 200) ** 2 < 50**2
    image = np.where(disc[..., None], [200, 40, 30], [90, 120, 100]).astype(np.int16)
    image += rng.integers(-4, 5, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), disc


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_threshold_backend_loads_by_name_and_segments(examples_installed):
    model = model_runtime.load_model("threshold")
    assert isinstance(model, ImageModel)
    assert model.info.family == "threshold" and model.info.model_id == "threshold-lab-t12"
    image, disc = disc_image()
    embedding = model.encode_image(image)
    click = model.predict(embedding, points=np.array([[200, 120]]), labels=np.array([1]))
    assert np.asarray(click.masks).shape == (3, 240, 320) and click.low_res_logits.shape == (3, 256, 256)
    assert list(click.scores) == sorted(click.scores, reverse=True)
    assert iou(click.masks[0], disc) > 0.97
    boxed = model.predict(embedding, box=np.array([130, 50, 270, 190]), multimask=False)
    assert len(boxed.scores) == 1 and iou(boxed.masks[0], disc) > 0.97
    # A negative click on the object takes its region away again.
    both = model.predict(embedding, points=np.array([[200, 120], [210, 130]]), labels=np.array([1, 0]))
    assert not both.masks[0].any()
    other = model_runtime.load_model("threshold:30")
    assert other.info.model_id == "threshold-lab-t30"  # its own caches


@pytest.mark.parametrize("source", ["threshold:0", "threshold:abc", "threshold:nan"])
def test_a_bad_threshold_tolerance_is_a_clear_error(examples_installed, source):
    with pytest.raises(CheckpointError, match=r"threshold: .*tolerance after 'threshold:' must be a number"):
        model_runtime.load_model(source)


def test_threshold_backend_through_the_runtime(examples_installed):
    from model_runtime.runtime import Runtime, RuntimeConfig

    image, disc = disc_image()
    runtime = Runtime(RuntimeConfig(disk_cache=False))
    try:
        loaded = runtime.load_model("threshold").result(60)
        assert loaded.model_id == "threshold-lab-t12" and loaded.can("click")
        prompts = Prompts(points=[(200, 120)], labels=[1])
        answer = runtime.predict("disc", "disc-image", 0, prompts, image_provider=lambda: image)
        assert iou(answer.result(60).prediction.masks[0], disc) > 0.97
    finally:
        runtime.close()



def test_threshold_backend_gives_box_only_objects_their_masks_from_the_cli(examples_installed, tmp_path):
    """What plugins/README.md shows: ``samdesk segment-boxes PROJECT --model threshold``."""
    image, disc = disc_image()
    Image.fromarray(image).save(tmp_path / "disc.png")
    item = media_item_from_path(tmp_path / "disc.png")
    item.id = 1
    project = Project(categories=[Category(1, "disc", (255, 0, 0))])
    project.media.append(item)
    project.objects.append(AnnotationObject(1, 1, 1, {0: box_only_frame((130, 50, 270, 190), 240, 320)}))
    project.next_ids.update(category=2, media=2, object=2)
    project_file = tmp_path / "p.samdesk.json"
    save_project(project, project_file)
    argv = ["segment-boxes", str(project_file), "--model", "threshold", "--cache-dir", str(tmp_path / "c")]
    assert cli.main([*argv, "--quiet"]) == 0
    (obj,) = load_project(project_file).project.objects
    assert iou(masks.decode(obj.frames[0].rle), disc) > 0.97
