"""User settings persisted as JSON in the platform's config folder (platformdirs).

A plain dataclass: unknown keys in the file are ignored and a damaged file falls back to defaults
(with the damaged copy kept aside), so a bad settings file never stops the app from starting.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from platformdirs import user_config_dir


@dataclass
class Settings:
    mask_opacity: float = 0.45
    brush_radius: float = 12.0
    min_island_area: int = 64
    last_model: str | None = None  # checkpoint path or "classical"
    concept_model: str | None = None  # a SAM 3 checkpoint for find all, beside the click model
    find_all_history: list[str] = field(default_factory=list)  # past find-all queries, newest first
    find_all_threshold: float = 0.5  # where the review's score slider starts for a new query
    device: str = "auto"  # where models run: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps
    last_open_dir: str = ""
    recent_projects: list[str] = field(default_factory=list)
    autosave_seconds: int = 60
    color_by_category: bool = False  # else each object its own shade of its category's colour
    window_geometry: str = ""  # base64 of QMainWindow.saveGeometry()
    window_state: str = ""

    @staticmethod
    def default_path() -> Path:
        root = os.environ.get("SAMDESK_CONFIG_DIR") or user_config_dir("samdesk", appauthor=False)
        return Path(root) / "settings.json"

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or cls.default_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".damaged.json"))
            return cls()
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known} if isinstance(data, dict) else {}
        settings = cls()
        for key, value in values.items():
            # A value of the wrong type (hand-edited file) keeps the default rather than crash later.
            default = getattr(settings, key)
            numeric = isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
            if numeric or isinstance(value, type(default)) or default is None:
                setattr(settings, key, value)
        return settings

    def save(self, path: Path | None = None) -> None:
        path = path or self.default_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(path)

    def remember_project(self, project_path: str, keep: int = 10) -> None:
        self.recent_projects = [project_path] + [p for p in self.recent_projects if p != project_path][
            : keep - 1
        ]
