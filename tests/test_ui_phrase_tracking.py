"""A phrase tracked through a video in the real window, with a real SAM 3 (random weights,
reduced width) in the second model slot: the find-all bar's Track → instances become objects of
the phrase's category whose lanes fill the timeline frame by frame → a click correction on a
later frame → re-track from there → merge and delete instances → undo, step by step → a run
stopped after its first frame keeps that frame. Before SAM 3 is loaded, the window says what is
missing.

Kept cheap: a 3-frame clip of the bundled cat video, the click model a double (discs: the
re-track refines the instance in the kept SAM 3 session with the clicks behind the user's
mask, whatever model made it), the session's planner with hot start off and a high threshold,
as the parity tests set it for random weights (tests/test_sam3_video_parity.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from samdesk.document import masks
from samdesk.document.model import Provenance
from samdesk.resources import sample_video
from samdesk.session.lanes import Mark
from tests.test_ui_find_all import SLOW_MS, close_window, make_window
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import click

pytestmark = pytest.mark.gui

CTRL, SHIFT, ALT = (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier,
                    Qt.KeyboardModifier.AltModifier)
FRAMES = 3
PHRASE = "cat"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first frames of the bundled cat video, as a video file of their own."""
    import av

    out = tmp_path_factory.mktemp("clip") / "cat_clip.mp4"
    with av.open(str(sample_video())) as source, av.open(str(out), "w") as target:
        stream = target.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 224, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == FRAMES:
                break
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            for packet in stream.encode(picture):
                target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    return out


def planner_settings():
    from model_runtime.models.sam3.planner import PlannerConfig
    from model_runtime.models.sam3.video import ConceptVideoConfig

    return ConceptVideoConfig(planner=PlannerConfig(
        score_threshold_detection=0.9, new_det_thresh=0.9, hotstart_delay=0, hotstart_unmatch_thresh=0,
        hotstart_dup_thresh=0,
    ))


def lanes(win) -> dict[int, list[int]]:
    """Object id -> the frames its timeline lane marks as tracked."""
    return {lane.object_id: [int(f) for f in np.nonzero(lane.marks == Mark.TRACKED)[0]]
            for lane in win.timeline.view.lanes}


def a_pixel_of(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    middle = len(xs) // 2
    return float(xs[middle]) + 0.5, float(ys[middle]) + 0.5


def test_a_phrase_tracked_corrected_re_tracked_merged_undone_and_stopped(
    qtbot, tmp_path: Path, clip: Path, sam3_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_runtime.models.sam3.video import ConceptVideoSession

    gate = threading.Event()
    gate.set()
    propagate = ConceptVideoSession.propagate

    def gated(self, *args, **kwargs):
        assert gate.wait(SLOW_MS / 1000)
        yield from propagate(self, *args, **kwargs)

    monkeypatch.setattr(ConceptVideoSession, "propagate", gated)
    cache = tmp_path / "embeddings"
    win = make_window(qtbot, tmp_path, cache, [clip])
    win.set_service(AsyncDiscService(lambda: win.controller), "discs")
    phrases, bar, project = win.instances.phrases, win.instances.find_all.bar, win.document.project
    assert win.controller.is_video and win.controller.media.frame_count == FRAMES

    # Without SAM 3 the window says what to load, on the menu item and on the bar's Track.
    action = win.menu_actions["track_phrase"]
    assert not action.isEnabled() and "load SAM 3 to track a phrase" in action.toolTip()
    qtbot.keyClick(win.canvas, Qt.Key.Key_F, CTRL)
    assert bar.track_row.isVisible() and not bar.track_button.isEnabled()
    assert "load SAM 3 to track a phrase" in bar.track_button.toolTip()

    with qtbot.waitSignal(win.instances.link.loaded, timeout=SLOW_MS):
        win.instances.load_concept_model(str(sam3_path))
    phrases.video_config = planner_settings()
    assert action.isEnabled() and bar.track_button.isEnabled()

    # Track "cat" through the whole video from its first frame; record the lanes as frames land.
    seen: list[dict[int, list[int]]] = []
    bar.field.setText(PHRASE)
    bar.set_range("whole")
    steps_before = win.document.history.depth
    bar.track_button.click()
    assert phrases.running and phrases.bar.isVisible() and phrases.stop_button.isVisible()
    # Connected after the tracker's own slot (made by the click): sees each frame once landed.
    win.instances.link.second.partial.connect(lambda _rid, _frame: seen.append(lanes(win)))
    qtbot.waitUntil(lambda: not phrases.running, timeout=SLOW_MS)
    assert win.last_error == ""
    cat = project.category_by_name(PHRASE)
    objects = [o for o in project.objects if o.category_id == cat.id]
    assert len(objects) >= 2, "the random detector found fewer than 2 instances: pick another phrase"
    assert all(a.provenance is Provenance.PROPAGATED for o in objects for a in o.frames.values())
    # The lanes filled in as the frames arrived: first the phrase's own frame, then the rest.
    assert seen[0] and all(frames == [0] for frames in seen[0].values())
    assert lanes(win) == {o.id: sorted(o.frames) for o in objects} and seen[-1] == lanes(win)
    assert max(len(f) for f in lanes(win).values()) == FRAMES
    assert win.document.history.depth == steps_before + 1  # the run is one undo step
    assert f"of “{PHRASE}” through {FRAMES} frames" in win.status.current_message()

    # A click correction of the first instance on frame 1, then re-track from there.
    first, second = objects[0], objects[1]
    before = dict(first.frames)
    others = {o.id: dict(o.frames) for o in objects[1:]}
    win.navigation.show_frame(1)
    qtbot.waitUntil(lambda: win.controller.frame == 1 and not win.loader.busy, timeout=SLOW_MS)
    win.controller.current_category = cat.id
    win.controller.select_object(first.id)
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_R)
    point = a_pixel_of(masks.decode(first.frames.get(1, first.frames[0]).rle))
    click(win, *point)
    qtbot.waitUntil(lambda: (p := win.controller.pending) is not None and p.candidates is not None)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    assert first.frames[1].provenance is Provenance.MODEL  # the user's mask: a keyframe
    qtbot.keyClick(win.canvas, Qt.Key.Key_R, CTRL | ALT)
    assert phrases.running
    qtbot.waitUntil(lambda: not phrases.running, timeout=SLOW_MS)
    assert win.last_error == ""
    assert first.frames[1].provenance is Provenance.MODEL  # kept: the run never overwrites it
    retracked = first.frames.get(2)
    assert (retracked is not None and retracked.tracked_from.frame == 1) or 2 in first.absent
    assert first.frames[0] is before[0]  # before the correction: untouched
    assert {o.id: dict(o.frames) for o in objects[1:]} == others  # the other instances too

    # Two ids of one thing merge into one object; a wrong instance is deleted. The kept session
    # forgets the instances whose objects are gone before its next re-track.
    tracker_of_second = phrases.state.tracker_id(project, second.id)
    win.controller.merge_objects([first.id, second.id])
    assert second.id not in {o.id for o in project.objects}
    assert set(first.frames) | set(first.absent) >= set(range(FRAMES))
    assert phrases.state.gone(project) == [tracker_of_second]
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, CTRL)
    assert project.object(second.id) is second and phrases.state.gone(project) == []
    win.controller.select_object(second.id)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Delete)
    assert phrases.state.gone(project) == [tracker_of_second]
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, CTRL)

    # Undo, step by step: the re-track, the correction, the whole phrase run.
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, CTRL)
    assert first.frames.get(2) is before.get(2) and 1 in first.frames
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, CTRL)
    assert first.frames == before
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, CTRL)
    assert project.objects == [] and project.category_by_name(PHRASE) is None
    assert win.timeline.view.lanes == []

    # Stop keeps what is done. The session's propagation waits until Stop is pressed (a gate in
    # this test), so Stop lands after the phrase's frame and before any frame is propagated.
    gate.clear()
    here = win.controller.frame
    bar.set_range("frames", FRAMES)
    steps_before = win.document.history.depth
    bar.track_button.click()
    qtbot.waitUntil(lambda: phrases.frames_done >= 1, timeout=SLOW_MS)
    assert phrases.stop_button.isVisible()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Escape)  # Esc, as the Stop button says
    assert phrases.running  # it ends after the frame in progress
    gate.set()
    qtbot.waitUntil(lambda: not phrases.running, timeout=SLOW_MS)
    assert win.last_error == "" and "Stopped: Tracked" in win.status.current_message()
    kept = [o for o in project.objects if o.category_id == project.category_by_name(PHRASE).id]
    assert kept and lanes(win) == {o.id: [here] for o in kept}  # the phrase's frame, kept
    assert win.document.history.depth == steps_before + 1
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, CTRL)
    assert project.objects == []
    close_window(win)
