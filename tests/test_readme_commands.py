"""Every command line the README shows works as written (issue 18, defect 1).

The commands are read from README.md itself: code blocks and inline code that start with
``samdesk``, ``make`` or ``python3``. Each is classified below; one the README gains without a
classification fails :func:`test_every_readme_command_is_checked_here`, and so does a
classification whose command left the README. Placeholders (``FILE``, ``PROJECT``, ...) become
real files: a random-weight MobileSAM checkpoint in the official layout, a project with a mask,
the bundled sample images and video.

How each is checked:
- ``samdesk`` commands run in-process through :func:`samdesk.cli.main` (the entry point's
  routing), the GUI ones on a real window and event loop that quits once the files are open and
  the model is loaded.
- ``samdesk models download NAME`` needs the network: checked as a dry run only (the command line
  parses and NAME is a downloadable registry entry).
- ``samdesk label ... --ray [ADDRESS]`` (the line above it, on Ray): run for real on a local
  Ray cluster that the command starts itself (no ADDRESS), ``slow``: Ray's workers import torch.
- ``make`` targets: ``make -n`` (the target exists and the arguments reach the command it runs);
  running them would rebuild the environment or run the whole suite.
- The GPU recipe (``python3 -m venv .venv && .venv/bin/pip install torch --index-url ...``) needs
  the network and a CUDA wheel index: only listed, not run.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from samdesk import cli
from samdesk.document import masks
from samdesk.document.media_files import media_item_from_path
from samdesk.document.model import AnnotationObject, Category, FrameAnnotation, Project, Provenance
from samdesk.document.persistence import load_project, save_project
from samdesk.resources import sample_images, sample_video
from tests.tiny_models import save_mobile_sam_checkpoint

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUI_TIMEOUT_MS = 180_000

# README command -> how it is checked (the test functions below).
GUI = {
    "samdesk [PATH...]",
    "samdesk --model /path/to/sam_vit_b_01ec64.pth photo.jpg",
}
HEADLESS = {
    "samdesk models list|download|path|add",
    "samdesk models list",
    "samdesk models download sam2.1_hiera_tiny",  # network: dry run only
    "samdesk models add FILE",
    "samdesk export PROJECT --format coco --out annotations.json",
    "samdesk import FILE_OR_DIR --format coco --images DIR --project OUT.samdesk.json",
    "samdesk precompute DIR_OR_PROJECT --model NAME",
}
SAM3 = {
    "samdesk models add sam3.pt",
    "samdesk label PATH... --text car --text person --model sam3.pt --project OUT.samdesk.json",
}
# ``...``: the arguments of the line above it. Run on a local Ray cluster (no ADDRESS: Ray starts one).
RAY = {"samdesk label ... --ray [ADDRESS]"}
MAKE = {
    "make run",
    "make test",
    'make run ARGS="photo.jpg more/ clip.mp4"',
    'make test PYTEST_ARGS="-k coco"',
    "make test-slow",
    "make desktop-install",
}
NETWORK_ONLY = {"python3 -m venv .venv && .venv/bin/pip install torch --index-url <your CUDA wheel index>"}


def readme_commands() -> set[str]:
    """Command lines of README.md: code block lines (comments cut) and inline code spans."""
    text = README.read_text()
    found: set[str] = set()
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                found.add(command)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        if span.split(" ")[0] in ("samdesk", "make", "python3") and " " in span:
            found.add(span.strip())
    return found


def test_every_readme_command_is_checked_here() -> None:
    classified = GUI | HEADLESS | SAM3 | RAY | MAKE | NETWORK_ONLY
    found = readme_commands()
    assert found - classified == set(), "README commands this test does not check"
    assert classified - found == set(), "commands checked here that the README no longer shows"


# --- the files the placeholders stand for -------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("readme")
    checkpoint = save_mobile_sam_checkpoint(root / "my_mobile_sam.pt")
    images = sample_images()[:2]
    project = Project(categories=[Category(1, "cat", (255, 80, 40))])
    for i, path in enumerate(images, start=1):
        item = media_item_from_path(path)
        item.id = i
        project.media.append(item)
        mask = np.zeros((item.height, item.width), bool)
        mask[item.height // 4 : item.height // 2, item.width // 4 : item.width // 2] = True
        frame = FrameAnnotation(masks.encode(mask), Provenance.MANUAL)
        project.objects.append(AnnotationObject(i, item.id, 1, {0: frame}))
    project.next_ids.update(media=3, object=3, category=2)
    save_project(project, root / "project.samdesk.json")
    return {
        "root": root,
        "checkpoint": checkpoint,
        "project": root / "project.samdesk.json",
        "images": images[0].parent,
    }


@pytest.fixture
def env(monkeypatch, tmp_path: Path, files) -> Path:
    """Nothing of the user's: models, settings, autosaves and caches in ``tmp_path``."""
    monkeypatch.setenv("SAMDESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("SAMDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def argv(command: str, values: dict[str, list[str]]) -> list[str]:
    """The README line as arguments, each placeholder replaced by its files."""
    words = shlex.split(command)
    assert words[0] == "samdesk"
    out: list[str] = []
    for word in words[1:]:
        out += values.get(word, [word])
    return out


# --- the GUI --------------------------------------------------------------------------------------


# The window runs in a child process, as a user's command does: QApplication.exec() and quit()
# leave the test process's application unable to activate later windows (every GUI test after
# this file failed to get its window active when these ran in-process).
GUI_CHILD = """
import json, os, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import samdesk.ui.app as app_module
from model_runtime.runtime import model_calls_running
from samdesk import cli

made = []
real_create = app_module.create_window

def create_and_watch(*args, **kwargs):
    window = real_create(*args, **kwargs)
    window.errors_as_status = True  # a modal box would block the unattended loop
    made.append(window)
    timer = QTimer(window)

    def quit_when_ready():
        loaded = window.bridge.runtime.model_info is not None
        if not window.files.busy and (loaded or window.last_error):
            timer.stop()
            QApplication.instance().quit()

    timer.timeout.connect(quit_when_ready)
    timer.start(50)
    QTimer.singleShot(TIMEOUT_MS, window, QApplication.instance().quit)
    return window

app_module.create_window = create_and_watch
code = cli.main(sys.argv[1:])
window = made[0] if made else None
info = window.bridge.runtime.model_info if window else None
print("RESULT " + json.dumps({
    "code": code,
    "started": window is not None,
    "last_error": window.last_error if window else None,
    "status": window.status.current_message() if window else None,
    "family": info.family if info else None,
    "device": str(info.device) if info else None,
    "media": [m.path for m in window.document.project.media] if window else [],
    "path": str(window.document.path) if window and window.document.path else None,
    "objects": len(window.document.project.objects) if window else 0,
}), flush=True)
if window:
    window.close()
while model_calls_running():  # an encode still running must end before the process does
    QApplication.processEvents()
os._exit(0)
"""


def run_gui_command(args: list[str]) -> dict:
    """``samdesk ARGS`` on a real window and event loop in a child process; the loop quits once
    the files are open and the model load is over. Returns what the window showed."""
    code = GUI_CHILD.replace("TIMEOUT_MS", str(GUI_TIMEOUT_MS))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=GUI_TIMEOUT_MS / 1000 + 60,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the GUI command gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["code"] == 0 and result["started"], result
    return result


@pytest.mark.gui
def test_gui_with_a_model_file(env, files) -> None:
    """``samdesk --model FILE photo.jpg``: refused as "invalid choice" before issue 18."""
    photo = str(sample_images()[0])
    values = {"/path/to/sam_vit_b_01ec64.pth": [str(files["checkpoint"])], "photo.jpg": [photo]}
    command = "samdesk --model /path/to/sam_vit_b_01ec64.pth photo.jpg"
    window = run_gui_command(argv(command, values))
    assert window["last_error"] == ""
    assert window["family"] == "mobilesam", window["status"]
    assert window["media"] == [photo]


@pytest.mark.gui
def test_gui_on_a_chosen_device(env) -> None:
    """The README's "the GUI's option ``--device cpu``": no paths (the bundled samples), the
    default model on the CPU."""
    window = run_gui_command(["--device", "cpu"])
    assert window["last_error"] == ""
    assert window["device"] == "cpu", window["status"]
    assert sorted(Path(m).name for m in window["media"]) == sorted(p.name for p in sample_images())


@pytest.mark.gui
def test_gui_on_paths(env, files, tmp_path) -> None:
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "copy.jpg").write_bytes(sample_images()[1].read_bytes())
    # Images, a folder and a video in one window; a project in another (a project replaces).
    paths = [str(sample_images()[0]), str(folder), str(sample_video())]
    window = run_gui_command(argv("samdesk [PATH...]", {"[PATH...]": paths}))
    assert window["last_error"] == ""
    names = sorted(Path(m).name for m in window["media"])
    assert names == sorted([sample_images()[0].name, "copy.jpg", sample_video().name])
    project = [str(files["project"])]
    window = run_gui_command(argv("samdesk [PATH...]", {"[PATH...]": project}))
    assert window["last_error"] == "" and window["path"] == str(files["project"])
    assert window["objects"] == 2


# --- headless commands ----------------------------------------------------------------------------


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_models_commands(env, files, capsys) -> None:
    from model_runtime import registry

    # `samdesk models list|download|path|add`: each action as the later lines use it.
    code, out = run_cli(argv("samdesk models add FILE", {"FILE": [str(files["checkpoint"])]}), capsys)
    assert code == 0 and "added my_mobile_sam" in out, out
    code, out = run_cli(argv("samdesk models list", {}), capsys)
    assert code == 0 and "my_mobile_sam" in out and "sam2.1_hiera_tiny" in out
    code, out = run_cli(["models", "path", "my_mobile_sam"], capsys)
    assert code == 0 and out.strip().endswith("my_mobile_sam.pt")
    # Download needs the network: the line parses and names a downloadable model (dry run).
    args = cli.build_parser()[0].parse_args(argv("samdesk models download sam2.1_hiera_tiny", {}))
    assert args.models_command == "download" and registry.get(args.name).downloadable


def test_export_then_import(env, files, capsys) -> None:
    out_json = env / "annotations.json"
    code, out = run_cli(
        argv(
            "samdesk export PROJECT --format coco --out annotations.json",
            {"PROJECT": [str(files["project"])]},
        ),
        capsys,
    )
    assert code == 0 and out_json.is_file(), out
    new_project = env / "OUT.samdesk.json"
    code, out = run_cli(
        argv(
            "samdesk import FILE_OR_DIR --format coco --images DIR --project OUT.samdesk.json",
            {"FILE_OR_DIR": ["annotations.json"], "DIR": [str(files["images"])]},
        ),
        capsys,
    )
    assert code == 0, out
    assert len(load_project(new_project).project.objects) == 2


def test_precompute(env, files, capsys) -> None:
    code, out = run_cli(["models", "add", str(files["checkpoint"])], capsys)
    assert code == 0, out
    code, out = run_cli(
        argv(
            "samdesk precompute DIR_OR_PROJECT --model NAME",
            {"DIR_OR_PROJECT": [str(files["project"])], "NAME": ["my_mobile_sam"]},
        ),
        capsys,
    )
    assert code == 0, out
    assert any((env / "cache").rglob("*")), "nothing was cached"


@pytest.mark.oracle
def test_label_with_phrases(env, files, capsys) -> None:
    """``samdesk models add sam3.pt``, then ``samdesk label ... --text car --text person --model
    sam3.pt``: a random-weight SAM 3 (reduced sizes, the official layout) is registered, then
    labels the images; both phrases become categories."""
    if importlib.util.find_spec("sam3") is None:
        pytest.skip("the official sam3 package (a test oracle, installed by make test) is missing")
    from tests.oracles import sam3_official

    checkpoint = sam3_official.make_checkpoint(env / "sam3.pt")
    code, out = run_cli(argv("samdesk models add sam3.pt", {"sam3.pt": [str(checkpoint)]}), capsys)
    assert code == 0 and "added sam3" in out, out
    code, out = run_cli(
        argv(
            "samdesk label PATH... --text car --text person --model sam3.pt --project OUT.samdesk.json",
            {"PATH...": [str(files["images"])], "sam3.pt": [str(checkpoint)]},
        ),
        capsys,
    )
    assert code == 0, out
    project = load_project(env / "OUT.samdesk.json").project
    assert {"car", "person"} <= {c.name for c in project.categories}


@pytest.mark.oracle
@pytest.mark.slow
def test_label_with_phrases_on_ray(env, files, capsys) -> None:
    """``samdesk label ... --ray`` (``...`` as on the line above it in the README): the same
    run on a local Ray cluster that the command starts and stops itself."""
    if importlib.util.find_spec("sam3") is None:
        pytest.skip("the official sam3 package (a test oracle, installed by make test) is missing")
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray (the cluster extra, installed by make test) is missing")
    from tests.oracles import sam3_official

    checkpoint = sam3_official.make_checkpoint(env / "sam3.pt")
    above = "samdesk label PATH... --text car --text person --model sam3.pt --project OUT.samdesk.json"
    command = "samdesk label ... --ray [ADDRESS]".replace("...", above.removeprefix("samdesk label "))
    values = {"PATH...": [str(files["images"])], "sam3.pt": [str(checkpoint)], "[ADDRESS]": []}
    code, out = run_cli(argv(command, values), capsys)
    assert code == 0, out
    assert "Ray worker" in out, out
    project = load_project(env / "OUT.samdesk.json").project
    assert {"car", "person"} <= {c.name for c in project.categories}
    assert len(project.media) == len(list(files["images"].glob("*.jpg")))


# --- make ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(MAKE))
def test_make_targets(command: str) -> None:
    result = subprocess.run(
        [*shlex.split(command)[:1], "-n", *shlex.split(command)[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    if " ARGS=" in command:
        assert "samdesk photo.jpg more/ clip.mp4" in result.stdout
    if "PYTEST_ARGS=" in command:
        assert "-k coco" in result.stdout
