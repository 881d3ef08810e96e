"""Find all in the real window with a real SAM 3 (random weights, reduced width) in the second
model slot, driven by real keys and mouse: phrase → proposed instances → threshold → reject →
accept → undo; duplicates are not accepted; exemplar boxes change the results; a click refines
an instance. Segment everything with a small SAM 2 streams into the same review.

The SAM 3 checkpoint is built once per module with the official classes
(tests/oracles/sam3_official.py), so these tests need the test-only ``sam3`` package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from model_runtime.runtime import RuntimeConfig
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import click, drag, mouse, open_paths, to_view

pytestmark = pytest.mark.gui

Press, Move, Release = QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease
SLOW_MS = 600_000  # a reduced SAM 3 takes seconds per query on a busy 2-core machine
THRESHOLD = 0.9  # the random detector scores many queries above 0.5: fewer to look at


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embeddings")  # shared: each photo is encoded once per module


def make_window(qtbot, tmp_path: Path, cache_dir: Path, media: list[Path]) -> MainWindow:
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache_dir=cache_dir))
    settings = Settings(mask_opacity=0.6, find_all_threshold=THRESHOLD)
    win = MainWindow(settings, settings_path=tmp_path / "settings.json", bridge=bridge)
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    assert open_paths(qtbot, win, media) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=120_000)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    return win


def close_window(win: MainWindow) -> None:
    """Close ``win`` and wait for its runtimes' model calls (an encode cannot be interrupted):
    a model call still running when the test process exits aborts it."""
    runtimes = [win.bridge.runtime]
    if win.instances.link.second is not None:
        runtimes.append(win.instances.link.second.runtime)
    win.close()
    for runtime in runtimes:
        assert runtime.close(timeout=600)


@pytest.fixture
def window(qtbot, tmp_path: Path, cache_dir: Path, media_dir: Path, sam3_path: Path):
    win = make_window(qtbot, tmp_path, cache_dir, [media_dir / "dog.jpg"])
    win.set_service(AsyncDiscService(lambda: win.controller), "double (discs)")
    with qtbot.waitSignal(win.instances.link.loaded, timeout=SLOW_MS):
        win.instances.load_concept_model(str(sam3_path))
    yield win
    close_window(win)


def find(qtbot, win: MainWindow, text: str | None) -> None:
    """Ctrl+F, type ``text`` (None: keep the field), Enter; wait for the answer on screen."""
    bar = win.instances.find_all.bar
    qtbot.keyClick(win.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert bar.isVisible() and bar.field.hasFocus()
    with qtbot.waitSignal(win.instances.review.shown, timeout=SLOW_MS):
        if text is not None:
            bar.field.clear()
            qtbot.keyClicks(bar.field, text)
        qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not win.instances.review.bar.busy_label.isVisible())


def on_top(proposal) -> dict:
    """For each shown instance drawn on top somewhere, a pixel centre (x, y) where it is."""
    keys = proposal.shown()
    top = np.full(proposal.image_size, -1)
    for index, key in enumerate(keys):  # later instances are drawn over earlier ones
        mask, (x0, y0) = proposal.crop(key)
        top[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]][mask] = index
    found = {}
    for index, key in enumerate(keys):
        ys, xs = np.nonzero(top == index)
        if len(xs):
            middle = len(xs) // 2
            found[key] = (float(xs[middle]) + 0.5, float(ys[middle]) + 0.5)
    return found


def inside(proposal, key) -> tuple[float, float]:
    """A pixel where ``key`` is the instance on top."""
    return on_top(proposal)[key]


def visible_keys(proposal) -> list:
    return list(on_top(proposal))


def test_phrases_threshold_reject_accept_and_undo(window: MainWindow, qtbot) -> None:
    win, c = window, window.controller
    stages: list[str] = []
    win.instances.link.stage.connect(lambda text, _s: stages.append(text))
    find(qtbot, win, "dog; car")
    assert any(s.startswith("encoding the image") for s in stages)
    assert any(s.startswith("finding dog, car") for s in stages)
    proposal = c.pending_instances
    assert [g.label for g in proposal.groups] == ["dog", "car"] and proposal.threshold == THRESHOLD
    counts = win.instances.review.bar.counts_label.text()
    assert counts.startswith("dog ") and " car " in counts
    assert win.instances.find_all.bar.counts_label.text() == counts
    assert "dog → new category" in win.instances.find_all.bar.mapping_label.text()
    shown = len(proposal)
    assert shown > 2
    # The slider re-filters at once, without asking the model again.
    stages.clear()
    win.instances.review.bar.threshold_slider.setValue(97)
    assert proposal.threshold == pytest.approx(0.97) and len(proposal) < shown
    win.instances.review.bar.threshold_slider.setValue(88)
    assert len(proposal) > shown and stages == [] and win.settings.find_all_threshold == pytest.approx(0.88)
    win.instances.review.bar.threshold_slider.setValue(90)
    assert len(proposal) == shown
    # Reject one with a right click, another with a click and Delete.
    first, second, *_ = visible_keys(proposal)
    click(win, *inside(proposal, first), button=Qt.MouseButton.RightButton)
    assert first in proposal.rejected and len(proposal) == shown - 1
    second = visible_keys(proposal)[0]
    click(win, *inside(proposal, second))
    assert proposal.selected == second
    qtbot.keyClick(win.canvas, Qt.Key.Key_Delete)
    assert second in proposal.rejected and len(proposal) == shown - 2
    expected = proposal.acceptable()
    labels = {proposal.groups[k[0]].label for k in expected}
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    objects = win.document.project.objects
    assert c.pending_instances is None and len(objects) == len(expected)
    names = {win.document.project.category(o.category_id).name for o in objects}
    assert names == labels and all(o.frames[0].prompts.text in labels for o in objects)
    assert all(o.frames[0].model_id.startswith("sam3-") for o in objects)
    # One undo step takes back the objects and the categories made for them.
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.document.project.objects == [] and list(win.document.project.categories) == []


def test_duplicates_of_accepted_objects_are_not_accepted(window: MainWindow, qtbot) -> None:
    win, c = window, window.controller
    find(qtbot, win, "dog")
    first = len(c.pending_instances.acceptable())
    # Enter again in the phrase field (it kept the focus) accepts rather than asking again.
    assert win.instances.find_all.bar.field.hasFocus()
    qtbot.keyClick(win.instances.find_all.bar.field, Qt.Key.Key_Return)
    assert c.pending_instances is None and not win.instances.link.busy
    before = [(o.id, o.frames[0].rle["counts"]) for o in win.document.project.objects]
    assert len(before) == first > 0
    find(qtbot, win, None)  # the same query again: every instance is one already there
    proposal = c.pending_instances
    assert all(proposal.is_duplicate(k) for k in proposal.shown())
    assert all(label.text().startswith("dup ") for label in win.layer.instances.labels)
    assert "dup" in win.instances.review.bar.counts_label.text()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert [(o.id, o.frames[0].rle["counts"]) for o in win.document.project.objects] == before
    # Let one through on purpose: select it, Allow duplicate, Ctrl+Enter.
    find(qtbot, win, None)
    proposal = c.pending_instances
    key = visible_keys(proposal)[0]
    click(win, *inside(proposal, key))
    win.instances.review.bar.buttons["Allow duplicate"].click()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(win.document.project.objects) == len(before) + 1
    assert c.pending_instances is not None and key not in proposal.shown()


def test_exemplar_boxes_change_the_results(window: MainWindow, qtbot) -> None:
    win, c = window, window.controller
    find(qtbot, win, "dog")
    phrase_only = c.pending_instances.groups[0].pool.scores.copy()
    qtbot.keyClick(win.canvas, Qt.Key.Key_E)
    assert win.canvas.tool.name == "exemplar"
    with qtbot.waitSignal(win.instances.review.shown, timeout=SLOW_MS):
        drag(win, (250, 120), (520, 470))  # around the dog: an example
    with_example = c.pending_instances
    assert [e.positive for e in with_example.prompts.exemplars] == [True]
    assert not np.allclose(with_example.groups[0].pool.scores, phrase_only)
    with qtbot.waitSignal(win.instances.review.shown, timeout=SLOW_MS):
        start, end = to_view(win, 600, 50), to_view(win, 780, 200)
        mouse(win, Press, start, Qt.MouseButton.RightButton, Qt.MouseButton.RightButton)
        mouse(win, Move, end, Qt.MouseButton.NoButton, Qt.MouseButton.RightButton)
        mouse(win, Release, end, Qt.MouseButton.RightButton, Qt.MouseButton.NoButton)
    with_counter = c.pending_instances
    assert [e.positive for e in with_counter.prompts.exemplars] == [True, False]
    assert not np.allclose(with_counter.groups[0].pool.scores, with_example.groups[0].pool.scores)
    assert win.instances.find_all.bar.exemplar_label.text() == "exemplars: 1 +, 1 −"
    # Without a phrase, the boxes alone find instances (one unlabelled group).
    win.instances.find_all.bar.field.clear()
    with qtbot.waitSignal(win.instances.review.shown, timeout=SLOW_MS):
        win.instances.find_all.run()
    assert c.pending_instances.groups[0].label == "" and c.pending_instances.prompts.text is None


def test_a_click_on_the_selected_instance_refines_it_with_sam3(window: MainWindow, qtbot) -> None:
    win, c = window, window.controller
    find(qtbot, win, "dog")
    proposal = c.pending_instances
    key = visible_keys(proposal)[0]
    before = proposal.crop(key)[0].copy()
    point = inside(proposal, key)
    click(win, *point)
    assert proposal.selected == key
    with qtbot.waitSignal(win.instances.link.refined, timeout=SLOW_MS):
        click(win, *point)  # no click model here: SAM 3's interactive head answers
    assert key in proposal.refined
    assert np.allclose(proposal.refined[key].points, [point], atol=1)  # one screen pixel
    after = proposal.crop(key)[0]
    assert after.shape != before.shape or not np.array_equal(after, before)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    refined = [o for o in win.document.project.objects if o.frames[0].prompts.points]
    assert len(refined) == 1 and refined[0].frames[0].prompts.text == "dog"


def test_run_on_all_images_matches_the_command_line(qtbot, tmp_path: Path, cache_dir: Path, media_dir: Path,
                                                     sam3_path: Path) -> None:
    """The GUI's batch and ``samdesk label`` give the same objects on the same images, resume
    by skipping what is done, and keep results for review per image when asked."""
    import io

    from samdesk.cli import build_parser
    from samdesk.document.persistence import load_project
    from samdesk.subcommands import label as label_command

    images = [media_dir / "dog.jpg", media_dir / "truck.jpg"]
    out = tmp_path / "cli.samdesk.json"
    argv = ["label", *map(str, images), "--text", "dog", "--text", "car", "--threshold", str(THRESHOLD),
            "--model", str(sam3_path), "--project", str(out), "--cache-dir", str(cache_dir)]
    assert label_command.run(build_parser()[0].parse_args(argv), io.StringIO()) == 0
    cli = load_project(out).project

    win = make_window(qtbot, tmp_path, cache_dir, images)
    with qtbot.waitSignal(win.instances.link.loaded, timeout=SLOW_MS):
        win.instances.load_concept_model(str(sam3_path))
    batch = win.instances.batch
    with qtbot.waitSignal(batch.finished, timeout=SLOW_MS) as done:
        assert batch.start("dog; car", THRESHOLD, review=False)
        assert batch.widget.isVisible() and batch.label.text().startswith("Labelling 0/2 images")
    assert done.args[0]["labelled"] == 2 and not batch.widget.isVisible()
    assert objects(win.document.project) == objects(cli) and objects(cli)
    assert not batch.start("dog; car", THRESHOLD, review=False)  # every image has both phrases: resumed
    assert "labelled for these phrases already" in win.status.current_message()
    # A new phrase from the bar's Run on all images…, its dialog left at "keep for review": the
    # image list marks the results, the image on screen offers them, Enter accepts them.
    from PySide6.QtCore import QTimer

    from samdesk.ui.batch_label import RunOnAllDialog

    asked: list[tuple] = []

    def answer_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, RunOnAllDialog):
            asked.append((dialog.review_button.isChecked(), dialog.threshold.value()))
            dialog.threshold.setValue(0.5)
            qtbot.keyClick(dialog, Qt.Key.Key_Return)  # OK, the default button
        elif dialog is not None:
            dialog.reject()

    bar = win.instances.find_all.bar
    qtbot.keyClick(win.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    bar.field.setText("person")
    with qtbot.waitSignal(batch.finished, timeout=SLOW_MS):
        QTimer.singleShot(200, answer_dialog)
        bar.run_all_button.click()
    assert asked == [(True, pytest.approx(win.settings.find_all_threshold))]
    win.activateWindow()  # back from the modal dialog (a window manager does this)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    rows = [win.media_panel.list.item(i).text() for i in range(win.media_panel.list.count())]
    assert all("to review" in row for row in rows), rows
    proposal = win.controller.pending_instances
    assert proposal is not None and proposal.stored and proposal.groups[0].label == "person"
    before = len(win.document.project.objects)
    qtbot.keyClick(bar.field, Qt.Key.Key_Escape)  # the keys back to the canvas
    assert win.canvas.hasFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert len(win.document.project.objects) > before
    assert "to review" not in win.media_panel.list.item(0).text()
    close_window(win)


def test_ctrl_f_loads_the_sam3_installed_in_the_models_folder(qtbot, tmp_path: Path, cache_dir: Path,
                                                               media_dir: Path, sam3_path: Path,
                                                               monkeypatch) -> None:
    """After `samdesk models add sam3.pt` the bar told the user to do just that again: only a
    file chosen with Model ▸ Load concept model… was ever loaded."""
    import shutil

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(sam3_path, models / "sam3.pt")
    monkeypatch.setenv("SAMDESK_MODELS_DIR", str(models))
    win = make_window(qtbot, tmp_path, cache_dir, [media_dir / "dog.jpg"])
    assert win.settings.concept_model is None and win.instances.link.concept_bridge() is None
    with qtbot.waitSignal(win.instances.link.loaded, timeout=SLOW_MS):
        qtbot.keyClick(win.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert win.settings.concept_model == str(models / "sam3.pt")
    bar = win.instances.find_all.bar
    qtbot.waitUntil(lambda: not bar.help_label.isVisible() and bar.find_button.isEnabled())
    assert "sam3" in bar.model_label.text()
    close_window(win)


def objects(project) -> dict[str, list[tuple]]:
    """Per image: (category name, score, mask, phrase, model id) of each object, in order."""
    names = {c.id: c.name for c in project.categories}
    found: dict[str, list[tuple]] = {}
    for obj in project.objects:
        frame = obj.frames[0]
        found.setdefault(project.media_item(obj.media_id).name, []).append(
            (names.get(obj.category_id), round(frame.score, 6), frame.rle["counts"], frame.prompts.text,
             frame.model_id)
        )
    return found
