"""Settings persistence: round trip, damaged files and wrong types fall back to defaults."""

from __future__ import annotations

from pathlib import Path

from samdesk.ui.settings import Settings


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(mask_opacity=0.7, brush_radius=20.0)
    settings.remember_project("/a.samdesk.json")
    settings.save(path)
    loaded = Settings.load(path)
    assert loaded.mask_opacity == 0.7 and loaded.brush_radius == 20.0
    assert loaded.recent_projects == ["/a.samdesk.json"]


def test_damaged_file_is_kept_aside_and_defaults_used(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert Settings.load(path) == Settings()
    assert (tmp_path / "settings.damaged.json").exists()


def test_wrong_types_keep_defaults_and_ints_count_as_floats(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"mask_opacity": "high", "brush_radius": 9, "unknown": 1}')
    loaded = Settings.load(path)
    assert loaded.mask_opacity == Settings().mask_opacity
    assert loaded.brush_radius == 9
