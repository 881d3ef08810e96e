"""Entry-point discovery with a fake installed distribution (a test double on sys.path)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import model_runtime
import plugins
from model_runtime.checkpoints import CheckpointError

BACKEND_MODULE = '''
from pathlib import Path

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
def export(document, destination, **options):
    raise NotImplementedError
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
        fake_format = samdesk_fake_exporter:export
        """,
        {"samdesk_fake_backend": BACKEND_MODULE, "samdesk_fake_exporter": EXPORTER_MODULE},
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("samdesk_fake_backend", "samdesk_fake_exporter"):
        sys.modules.pop(name, None)


def test_entry_points_are_discovered_without_importing(fake_plugin):
    backends = [p for p in plugins.discover_backends() if p.dist == "samdesk-fake-plugin"]
    assert [p.name for p in backends] == ["a_broken", "b_wrong", "c_fake", "d_missing"]
    assert "samdesk_fake_backend" not in sys.modules
    exporters = [p for p in plugins.discover_exporters() if p.dist == "samdesk-fake-plugin"]
    assert [(p.name, p.value) for p in exporters] == [("fake_format", "samdesk_fake_exporter:export")]
    assert callable(exporters[0].load())


def test_missing_module_is_a_clear_plugin_error(fake_plugin):
    missing = next(p for p in plugins.discover_backends() if p.name == "d_missing")
    with pytest.raises(plugins.PluginError, match="d_missing.*failed to load"):
        missing.load()


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
