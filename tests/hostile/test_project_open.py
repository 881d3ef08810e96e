"""Hostile project files: each is refused with a clear error naming it, and left unchanged.

Opened the way ``samdesk import --project`` opens them (the same ``load_project`` as the GUI),
in a child under a memory limit: truncated, wrong types, huge sizes and counts, NaN and
infinities, deep nesting, wrong versions, plus hypothesis mutations (tests/hostile/project_cases.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samdesk.document.persistence import ProjectFileError, load_project
from tests.hostile.limits import run_python

MEMORY = 3 << 29


def test_hostile_project_files_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    outcome = run_python(
        f"from tests.hostile.project_cases import run_all; run_all({str(tmp_path / 'work')!r}, 30)",
        memory=MEMORY,
        timeout=300,
    )
    last = [line for line in outcome.stdout.splitlines() if line.startswith("case ")][-1:]
    assert outcome.returncode == 0 and not outcome.crashed, f"last case: {last}\n{outcome.describe()}"
    assert "30 generated passed" in outcome.stdout, outcome.describe()


def test_a_huge_mask_string_is_refused_not_a_memory_error(tmp_path: Path) -> None:
    """Validating a 60-million-character mask needs more memory than the limit: that must be a
    clear error naming the file, not a MemoryError traceback."""
    path = tmp_path / "big.samdesk.json"
    code = f"""
    import json
    from tests.hostile.project_cases import valid_project
    from pathlib import Path
    from samdesk.document.persistence import ProjectFileError, load_project
    doc = valid_project(Path({str(tmp_path)!r}))
    doc["objects"][0]["frames"][0]["rle"]["counts"] = "1" * 60_000_000
    Path({str(path)!r}).write_text(json.dumps(doc))
    del doc
    try:
        load_project({str(path)!r})
    except ProjectFileError as exc:
        print("refused:", exc)
    """
    outcome = run_python(code, memory=1 << 30, timeout=120)
    assert outcome.returncode == 0 and not outcome.traceback, outcome.describe()
    assert f"refused: {path}: " in outcome.stdout, outcome.describe()


@pytest.fixture(scope="module")
def project_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from tests.hostile.project_cases import valid_project

    folder = tmp_path_factory.mktemp("cut")
    return folder, json.dumps(valid_project(folder), indent=1)


def test_every_truncation_says_the_file_is_truncated(project_text: tuple[Path, str]) -> None:
    folder, text = project_text
    path = folder / "cut.samdesk.json"
    for end in range(1, len(text.rstrip()) - 1):
        cut = text[:end]
        if not cut.strip():
            continue
        path.write_text(cut)
        with pytest.raises(ProjectFileError) as info:
            load_project(path)
        message = str(info.value)
        assert "(the file is truncated)" in message, (end, message)
        assert " at at " not in message, (end, message)
        assert message.startswith(f"{path}: not valid JSON"), (end, message)


def test_damage_inside_the_file_is_not_called_truncation(project_text: tuple[Path, str]) -> None:
    folder, text = project_text
    path = folder / "damaged.samdesk.json"
    path.write_text(text.replace('"media"', '"media" "', 1))
    with pytest.raises(ProjectFileError) as info:
        load_project(path)
    assert "not valid JSON" in str(info.value) and "truncated" not in str(info.value)
