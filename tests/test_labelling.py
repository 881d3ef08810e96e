"""``samdesk label`` on this machine: phrases to categories, resume, review, duplicates, Ctrl+C."""

from __future__ import annotations

import io
import json
import os
import signal
import threading

import numpy as np
import pytest

from model_runtime.media import read_image
from samdesk.cli import build_parser
from samdesk.document import AddObjects, Document, NewObject
from samdesk.document import masks as rle
from samdesk.document.media_files import media_item_from_path
from samdesk.document.persistence import load_project, save_project
from samdesk.labelling.store import LABELLING_KEY, LabellingRecord, accept_pending
from samdesk.subcommands import label as label_command
from tests.labelling_doubles import PhraseDouble, SweepDouble, load_double, make_images


def label(tmp_path, *extra: str, images=None, model="phrases", loader=load_double, project=None):
    """Run ``samdesk label`` in-process; returns (exit code, output, project path)."""
    project = project or tmp_path / "out.samdesk.json"
    images = images if images is not None else tmp_path / "images"
    argv = ["label", str(images), "--model", model, "--project", str(project),
            "--cache-dir", str(tmp_path / "cache"), *extra]
    args = build_parser()[0].parse_args(argv)
    out = io.StringIO()
    code = label_command.run(args, out, loader)
    return code, out.getvalue(), project


def objects_by_image(path) -> dict[str, list[tuple]]:
    """Per image file name: (category name, score, rle counts, prompts text, model id) in order."""
    project = load_project(path).project
    names = {c.id: c.name for c in project.categories}
    found: dict[str, list[tuple]] = {}
    for obj in project.objects:
        frame = obj.frames[0]
        found.setdefault(project.media_item(obj.media_id).name, []).append(
            (names.get(obj.category_id), frame.score, frame.rle["counts"], frame.prompts.text, frame.model_id)
        )
    return found


def expected_objects(images, phrases, threshold) -> dict[str, list[tuple]]:
    """What the model finds on each image, straight from the double (no samdesk code)."""
    model = PhraseDouble()
    found: dict[str, list[tuple]] = {}
    for path in images:
        embedding = model.encode_image(read_image(path))
        for phrase in phrases:
            instances = model.find_all(embedding, load_prompts(phrase), threshold)
            for i in range(len(instances)):
                found.setdefault(path.name, []).append(
                    (phrase, float(instances.scores[i]), rle.encode(instances.masks[i])["counts"], phrase,
                     model.info.model_id)
                )
    return found


def load_prompts(phrase):
    from model_runtime.api import Prompts

    return Prompts(text=phrase)


def test_each_phrase_labels_every_image_into_its_category(tmp_path):
    images = make_images(tmp_path / "images", 4)
    code, out, project = label(tmp_path, "--text", "car", "--text", " person ", "--threshold", "0.3")
    assert code == 0, out
    loaded = load_project(project).project
    assert [c.name for c in loaded.categories] == ["car", "person"]
    assert objects_by_image(project) == expected_objects(images, ["car", "person"], 0.3)
    record = LabellingRecord.of(loaded)
    for media in loaded.media:
        runs = record.done_tasks(media.id)
        assert set(runs) == {"text:car", "text:person"}
        assert runs["text:car"].model_id == PhraseDouble().info.model_id and runs["text:car"].threshold == 0.3
    total = sum(len(v) for v in expected_objects(images, ["car", "person"], 0.3).values())
    assert "4 images labelled, 0 failed, 0 already labelled" in out
    counts = [int(line.split(":")[1].split()[0]) for line in out.splitlines() if line.startswith("  ")]
    assert sum(counts) == total  # "  car: N found, ..." per category


def test_rerunning_the_command_resumes_and_a_new_phrase_runs_only_itself(tmp_path):
    make_images(tmp_path / "images", 3)
    model = PhraseDouble()
    code, _, project = label(tmp_path, "--text", "car", loader=lambda s, d: model)
    assert code == 0 and model.find_calls == [("car",)] * 3
    before = project.read_bytes()
    code, out, _ = label(tmp_path, "--text", "car", loader=lambda s, d: model)
    assert code == 0 and "nothing to do: all 3 images are labelled" in out
    assert project.read_bytes() == before and len(model.find_calls) == 3  # the model never ran
    code, out, _ = label(tmp_path, "--text", "car", "--text", "bus", loader=lambda s, d: model)
    assert code == 0 and model.find_calls[3:] == [("bus",)] * 3, out
    code, out, _ = label(tmp_path, "--text", "car", "--redo", "--threshold", "0", loader=lambda s, d: model)
    assert model.find_calls[6:] == [("car",)] * 3
    count = len(load_project(project).project.objects)
    code, out, _ = label(tmp_path, "--text", "car", "--redo", "--threshold", "0", loader=lambda s, d: model)
    # --redo finds the same instances again: every one is a duplicate of the first run's objects
    assert "duplicates of existing objects skipped" in out
    assert len(load_project(project).project.objects) == count


def test_existing_objects_are_never_changed_or_duplicated(tmp_path):
    images = make_images(tmp_path / "images", 2)
    project_path = tmp_path / "out.samdesk.json"
    document = Document()
    from samdesk.document import AddMedia

    document.execute(AddMedia(media_item_from_path(images[0])))
    media = document.project.media[0]
    # the user's own object: exactly the double's first "car" instance, and one elsewhere
    model = PhraseDouble()
    found = model.find_all(model.encode_image(read_image(images[0])), load_prompts("car"), 0.0)
    mine = found.masks[0].copy()
    mine[0, 0] = not mine[0, 0]  # one pixel differs: IoU still far above 0.8
    elsewhere = np.eye(48, 64, dtype=bool)
    document.execute(AddObjects([NewObject.from_mask(media.id, mine, provenance="manual"),
                                 NewObject.from_mask(media.id, elsewhere, provenance="manual")]))
    save_project(document.project, project_path)
    mine_before = [(o.id, o.frames[0].rle) for o in document.project.objects]

    code, out, _ = label(tmp_path, "--text", "car", "--threshold", "0.0", project=project_path)
    assert code == 0, out
    loaded = load_project(project_path).project
    assert [(o.id, o.frames[0].rle) for o in loaded.objects[:2]] == mine_before
    added = [o for o in loaded.objects[2:] if o.media_id == media.id]
    assert len(added) == len(found) - 1  # all but the duplicate
    assert LabellingRecord.of(loaded).done_tasks(media.id)["text:car"].duplicates == 1
    assert "1 duplicates of existing objects skipped" in out
    assert len(loaded.media) == 2  # the image already in the project is not added twice


def test_review_keeps_results_pending_and_accepting_them_gives_the_direct_objects(tmp_path):
    make_images(tmp_path / "images", 3)
    code, out, direct = label(tmp_path, "--text", "car", "--threshold", "0.2",
                              project=tmp_path / "direct.samdesk.json")
    assert code == 0
    code, out, review = label(tmp_path, "--text", "car", "--threshold", "0.2", "--review",
                              project=tmp_path / "review.samdesk.json")
    assert code == 0 and "waiting for review" in out
    document = Document(load_project(review).project)
    assert len(document.project.objects) == 0  # nothing an export or the canvas would see
    record = LabellingRecord.of(document.project)
    assert sorted(record.media_with_pending()) == [m.id for m in document.project.media]
    for media in document.project.media:
        document.execute(accept_pending(document.project, media.id))
    assert LabellingRecord.of(document.project).media_with_pending() == []
    save_project(document.project, review)
    assert objects_by_image(review) == objects_by_image(direct)
    document.undo()  # one image's accept is one step
    assert LabellingRecord.of(document.project).media_with_pending() == [document.project.media[-1].id]


def test_segment_everything_with_settings_and_a_category(tmp_path):
    images = make_images(tmp_path / "images", 2)
    model = SweepDouble()
    code, out, project = label(tmp_path, "--everything", "--category", "thing", "--points-per-side", "8",
                               model="sweep", loader=lambda s, d: model)
    assert code == 0, out
    loaded = load_project(project).project
    assert [c.name for c in loaded.categories] == ["thing"]
    assert len(loaded.objects) == 4 * len(images) and model.sweeps == 2
    assert all(o.frames[0].prompts.is_empty() for o in loaded.objects)
    assert model.settings_seen == [{"points_per_side": 8}] * 2
    code, out, _ = label(tmp_path, "--everything", model="sweep", loader=lambda s, d: model)
    assert "nothing to do" in out and model.sweeps == 2


def test_a_model_that_cannot_serve_the_request_leaves_no_file(tmp_path):
    make_images(tmp_path / "images", 1)
    code, out, project = label(tmp_path, "--text", "car", model="sweep")
    assert code == 2 and "cannot find every instance" in out and "SAM 3" in out
    assert not project.exists()
    code, out, project = label(tmp_path, "--text", "car", model=str(tmp_path / "missing.pt"), loader=None)
    assert code == 2 and "missing.pt" in out and not project.exists()


def test_a_malformed_labelling_record_is_refused_and_the_file_kept(tmp_path):
    make_images(tmp_path / "images", 1)
    code, _, project = label(tmp_path, "--text", "car", "--review", "--threshold", "0")
    data = json.loads(project.read_text())
    media_id = str(data["media"][0]["id"])
    data["settings"][LABELLING_KEY]["pending"][media_id][0]["rle"]["counts"] = "garbage!"
    project.write_text(json.dumps(data))
    before = project.read_bytes()
    code, out, _ = label(tmp_path, "--text", "car", "--redo")
    assert code == 1 and f"settings.labelling.pending.{media_id}[0].rle" in out
    assert project.read_bytes() == before


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    make_images(tmp_path / "images", 1)
    assert label(tmp_path, "--text", " ")[0] == 2
    assert label(tmp_path, "--text", "car", "--points-per-side", "4")[0] == 2
    assert label(tmp_path, "--text", "car", "--duplicate-iou", "0")[0] == 2
    code, out, _ = label(tmp_path, "--text", "car", project=tmp_path / "out.json")
    assert code == 2 and ".samdesk.json" in out
    assert not (tmp_path / "out.samdesk.json").exists()


@pytest.fixture
def python_handles_ctrl_c():
    """Ctrl+C raises KeyboardInterrupt, as in a fresh ``samdesk`` process, whatever handler an
    earlier test in this process left (the full suite ran this test with Ctrl+C ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_keeps_what_is_done_and_the_same_command_finishes_the_run(tmp_path, python_handles_ctrl_c):
    make_images(tmp_path / "images", 6)
    code, _, uninterrupted = label(tmp_path, "--text", "car", "--text", "bus", "--threshold", "0.2",
                                   project=tmp_path / "whole.samdesk.json")
    assert code == 0
    main = threading.main_thread().ident

    class CtrlC(PhraseDouble):
        """Presses Ctrl+C (SIGINT to this process) while labelling the third image."""

        def find_all(self, embedding, prompts, threshold=0.5):
            if len(self.find_calls) == 2:
                signal.pthread_kill(main, signal.SIGINT)
            return super().find_all(embedding, prompts, threshold)

    project = tmp_path / "resumed.samdesk.json"
    code, out, _ = label(tmp_path, "--text", "car", "--text", "bus", "--threshold", "0.2", project=project,
                         loader=lambda s, d: CtrlC())
    assert code == 130 and "interrupted" in out, out
    record = LabellingRecord.of(load_project(project).project)
    done = [m for m in load_project(project).project.media if record.done_tasks(m.id)]
    assert 2 <= len(done) < 6  # saved at the interrupt, whatever the save interval
    code, out, _ = label(tmp_path, "--text", "car", "--text", "bus", "--threshold", "0.2", project=project)
    assert code == 0 and f"{len(done)} already labelled" in out
    assert objects_by_image(project) == objects_by_image(uninterrupted)


def test_unreadable_images_fail_alone_and_are_retried_next_time(tmp_path):
    make_images(tmp_path / "images", 2)
    model = PhraseDouble()
    model.encode_error = None
    calls = {"n": 0}

    def flaky(source, device):
        return model

    original = model.find_all

    def find_all(embedding, prompts, threshold=0.5):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("model hiccup")
        return original(embedding, prompts, threshold)

    model.find_all = find_all  # type: ignore[method-assign]
    code, out, project = label(tmp_path, "--text", "car", loader=flaky)
    assert code == 1 and "failed: " in out and "model hiccup" in out
    code, out, _ = label(tmp_path, "--text", "car", loader=flaky)
    assert code == 0 and "1 images labelled, 0 failed, 1 already labelled" in out
    assert os.path.exists(project)
