"""Packaging: the wheel/sdist carry every module and the bundled resources (``resources/``,
installed as ``samdesk.assets``), an installed copy finds them, and the Linux desktop-integration
files are well formed and agree with pyproject and the code.

The builds run offline (no build isolation, no index) from a copy of the source tree, so the
worktree gets no build/ or egg-info and nothing is downloaded.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from samdesk import resources

REPO = Path(__file__).resolve().parents[1]
LINUX = REPO / "packaging" / "linux"
APP_ID = resources.DESKTOP_ID
# What pyproject's build needs; copied so the build never writes into the checkout.
SOURCE_ITEMS = (
    "pyproject.toml",
    "README.md",
    "MANIFEST.in",
    "Makefile",
    "samdesk",
    "resources",
    "model_runtime",
    "packaging",
)
# Source path -> path in the wheel: resources/ installs as the samdesk.assets package.
SOURCE_ASSETS = [
    *(f"resources/samples/{name}" for name in resources.SAMPLE_IMAGE_NAMES),
    f"resources/samples/{resources.SAMPLE_VIDEO_NAME}",
    "resources/samples/LICENSES.md",
    *(f"resources/icons/{name}" for name in resources.ICON_NAMES.values()),
    "resources/icons/LICENSES.md",
    "model_runtime/models/sam3/assets/bpe_simple_vocab_16e6.txt.gz",
    "model_runtime/models/sam3/assets/LICENSES.md",
]
ASSETS = {source: source.replace("resources/", "samdesk/assets/", 1) for source in SOURCE_ASSETS}


def console_script() -> str:
    """The one console script pyproject declares for the GUI/CLI (``samdesk``)."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"samdesk": "samdesk.cli:run"}
    return "samdesk"


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("src")
    for item in SOURCE_ITEMS:
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / item)
    return dest


@pytest.fixture(scope="module")
def wheel(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        str(out),
        str(source_copy),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    (built,) = out.glob("samdesk-*.whl")
    return built


def test_wheel_carries_the_assets(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [a for a in ASSETS.values() if a not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    # Generators are build-time tools, not part of the installed app; resources/ is not a package.
    assert not any(n.startswith(("packaging/", "resources/")) for n in names)
    for source, name in ASSETS.items():  # the wheel holds the very bytes of the checkout, not stale copies
        assert zipfile.ZipFile(wheel).read(name) == (REPO / source).read_bytes(), name


def test_wheel_carries_every_module_and_resource(wheel: Path) -> None:
    """pyproject lists its packages (resources/ needs a package-dir mapping, which a package
    search cannot express): a package added to the tree but not to that list is caught here."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        p.relative_to(REPO).as_posix()
        for package in ("samdesk", "model_runtime")
        for p in (REPO / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    expected |= {
        "samdesk/assets/" + p.relative_to(REPO / "resources").as_posix()
        for p in (REPO / "resources").rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    missing = sorted(expected - names)
    assert not missing, f"{wheel.name} lacks {missing}: add the package to [tool.setuptools] packages"
    # Only samdesk's own import names: a generic top-level name (plugins, resources) would
    # collide with other distributions in site-packages.
    dist_info = wheel.name.split("-py3")[0] + ".dist-info"
    assert {n.split("/")[0] for n in names} == {"samdesk", "model_runtime", dist_info}


def test_installed_wheel_finds_its_samples_and_icon(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel into a bare folder and ask *that* copy for its resources.

    `-I` (isolated mode) keeps the checkout and PYTHONPATH off sys.path, so a lookup that still
    pointed into the source tree would fail here instead of passing by accident.
    """
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import samdesk, samdesk.resources as r\n"
        "paths = [*r.sample_images(), r.sample_video(), r.icon_path('png'), r.icon_path('svg')]\n"
        "print(samdesk.__file__)\n"
        "print(len(r.sample_images()))\n"
        "print('\\n'.join(str(p) for p in paths if not p.is_file()) or 'all-present')\n"
        "print('\\n'.join(str(p) for p in paths))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    where, count, missing, *paths = done.stdout.strip().splitlines()
    assert Path(where).is_relative_to(site), f"imported samdesk from {where}, not the installed wheel"
    assert int(count) == len(resources.SAMPLE_IMAGE_NAMES)
    assert missing == "all-present"
    # Found inside the installed copy itself, never by reaching back into a source checkout.
    assert [p for p in paths if not Path(p).is_relative_to(site)] == []


def test_sdist_carries_assets_and_desktop_files(source_copy: Path, tmp_path: Path) -> None:
    # The PEP 517 hook directly: `python -m build` is not installed, the hook is what it calls.
    code = (
        "import sys, os; os.chdir(sys.argv[1]); from setuptools import build_meta; "
        "print(build_meta.build_sdist(sys.argv[2]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(source_copy), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    name = done.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    wanted = [
        *ASSETS,  # the source paths: an sdist is the source tree
        "packaging/linux/install.sh",
        f"packaging/linux/{APP_ID}.desktop",
        f"packaging/linux/{APP_ID}.metainfo.xml",
        f"packaging/linux/{APP_ID}.mime.xml",
    ]
    assert not [w for w in wanted if w not in members]
    # What pip does with an sdist: unpack it and build a wheel; the resources must land in it too.
    with tarfile.open(tmp_path / name) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    built = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        + ["-w", str(built), str(unpacked)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (from_sdist,) = built.glob("samdesk-*.whl")
    in_wheel = set(zipfile.ZipFile(from_sdist).namelist())
    assert [a for a in ASSETS.values() if a not in in_wheel] == []


def test_source_layout_lookup() -> None:
    # This checkout's own resources/ (through the editable install, or beside samdesk/).
    assert resources.assets_dir() == REPO / "resources"
    assert [p.name for p in resources.sample_images()] == list(resources.SAMPLE_IMAGE_NAMES)
    assert resources.sample_video().is_file()
    assert resources.icon_path().is_file() and resources.icon_path("svg").is_file()
    with pytest.raises(ValueError, match="unknown icon kind"):
        resources.icon_path("ico")


def test_a_checkout_never_installed_finds_resources_beside_the_package(source_copy: Path) -> None:
    """``python -S`` (no site-packages, so no editable install) with only the source tree on
    sys.path: samdesk.assets is not importable, and resources/ beside samdesk/ is used."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import samdesk.resources as r; "
        "print(r.assets_dir())"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(source_copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == source_copy / "resources"


def read_desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)  # '%F' must stay literal
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_entry_is_complete_and_runs_our_console_script() -> None:
    entry = read_desktop_entry(LINUX / f"{APP_ID}.desktop")
    for key in ("Type", "Name", "Exec", "Icon", "MimeType", "Categories", "Comment"):
        assert entry.get(key), f"missing {key}"
    assert entry["Type"] == "Application"
    assert entry["Exec"].split() == [console_script(), "%F"]
    assert entry["TryExec"] == console_script()
    assert entry["Icon"] == APP_ID
    assert "Graphics" in entry["Categories"].split(";")
    for listed in ("Categories", "MimeType", "Keywords"):  # lists end with ';' per the spec
        assert entry[listed].endswith(";"), listed
    mimes = entry["MimeType"].rstrip(";").split(";")
    assert {"image/jpeg", "image/png", "video/mp4", project_mime_type()} <= set(mimes)


def project_mime_type() -> str:
    (node,) = ET.parse(LINUX / f"{APP_ID}.mime.xml").getroot()
    return node.attrib["type"]


def test_mime_type_matches_project_suffix() -> None:
    from samdesk.document.files import PROJECT_SUFFIX

    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(LINUX / f"{APP_ID}.mime.xml").getroot()
    (node,) = root.findall("m:mime-type", ns)
    assert node.attrib["type"] == "application/x-samdesk-project+json"
    assert [g.attrib["pattern"] for g in node.findall("m:glob", ns)] == [f"*{PROJECT_SUFFIX}"]
    assert node.find("m:sub-class-of", ns).attrib["type"] == "application/json"  # type: ignore[union-attr]


def test_metainfo_names_the_same_app() -> None:
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.tag == "component" and root.attrib["type"] == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("provides/binary") == console_script()
    assert root.findtext("provides/mediatype") == project_mime_type()
    assert root.findtext("project_license") == "Apache-2.0"
    for key in ("name", "summary", "description/p", "metadata_license"):
        assert (root.findtext(key) or "").strip(), key


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell script")
def test_install_script_installs_for_the_user_and_uninstalls(tmp_path: Path) -> None:
    binary = tmp_path / "my venv" / "samdesk"  # a space: Exec must quote the path
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    data = tmp_path / "data"
    env = {**os.environ, "XDG_DATA_HOME": str(data), "SAMDESK_BIN": str(binary)}
    subprocess.run([str(LINUX / "install.sh")], env=env, check=True, capture_output=True, timeout=60)
    installed = [
        data / "applications" / f"{APP_ID}.desktop",
        data / "metainfo" / f"{APP_ID}.metainfo.xml",
        data / "mime" / "packages" / f"{APP_ID}.xml",
        data / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png",
        data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
    ]
    assert [p for p in installed if not p.is_file()] == []
    entry = read_desktop_entry(installed[0])
    assert entry["Exec"] == f'"{binary}" %F'
    assert entry["TryExec"] == str(binary)

    subprocess.run(
        [str(LINUX / "install.sh"), "--uninstall"], env=env, check=True, capture_output=True, timeout=60
    )
    assert [p for p in installed if p.exists()] == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell script")
def test_install_script_refuses_without_a_samdesk_binary(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "SAMDESK_BIN": str(tmp_path / "nope")}
    done = subprocess.run([str(LINUX / "install.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "SAMDESK_BIN" in done.stderr and str(tmp_path / "nope") in done.stderr
    assert not (tmp_path / "data" / "applications").exists()


@pytest.mark.gui
def test_icon_png_is_current_render_of_the_svg(qapp, tmp_path: Path) -> None:
    """The shipped PNG is what packaging/make_icon.py renders from the SVG now (not stale)."""
    import numpy as np
    from PIL import Image

    spec = importlib.util.spec_from_file_location("make_icon", REPO / "packaging" / "make_icon.py")
    assert spec and spec.loader
    make_icon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icon)
    fresh = tmp_path / "icon.png"
    make_icon.render(resources.icon_path("svg"), fresh)
    shipped = Image.open(resources.icon_path("png"))
    assert shipped.size == (256, 256) and shipped.mode == "RGBA"
    diff = np.abs(np.asarray(shipped, np.int16) - np.asarray(Image.open(fresh).convert("RGBA"), np.int16))
    # Antialiasing may differ by a level or two between Qt builds; a changed drawing differs by far more.
    assert diff.mean() < 1.0 and (diff > 32).mean() < 0.001


@pytest.mark.gui
def test_application_gets_icon_and_desktop_id(qapp) -> None:
    from samdesk.ui.app import configure_application

    saved = (qapp.applicationName(), qapp.organizationName(), qapp.windowIcon(), qapp.desktopFileName())
    try:
        configure_application(qapp)
        assert not qapp.windowIcon().isNull()
        assert qapp.windowIcon().availableSizes()[0].width() == 256
        assert qapp.desktopFileName() == APP_ID
    finally:  # the QApplication is shared by the whole session: leave it as found
        qapp.setApplicationName(saved[0])
        qapp.setOrganizationName(saved[1])
        qapp.setWindowIcon(saved[2])
        qapp.setDesktopFileName(saved[3])
