"""``samdesk models add sam3.pt``: how a user installs the gated SAM 3 file (issue 16).

A random reduced-width SAM 3 in the released ``sam3.pt`` layout (``tests/oracles/sam3_official``)
is added through the real CLI entry point, then loaded by its registry name with both SAM 3
capabilities. A file missing a part is refused by ``add`` with the part named, and nothing is
installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_runtime.api import Capability
from samdesk.cli import main

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def sam3_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.oracles import sam3_official as oracle

    return oracle.make_checkpoint(tmp_path_factory.mktemp("download") / "sam3.pt", seed=3)


def test_add_installs_sam3_and_load_model_finds_it_by_name(
    sam3_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import model_runtime
    from model_runtime import download as dl

    models = tmp_path / "models"
    assert main(["models", "--dir", str(models), "add", str(sam3_file)]) == 0
    out = capsys.readouterr().out
    # The released file has no public digest: the registry name, marked unverified.
    assert "added sam3 (sam3, unverified)" in out, out
    assert (models / "sam3.pt").read_bytes() == sam3_file.read_bytes()
    assert main(["models", "--dir", str(models), "list"]) == 0
    sam3_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sam3 "))
    assert "manual download" not in sam3_line, sam3_line
    monkeypatch.setenv(dl.ENV_MODELS_DIR, str(models))
    model = model_runtime.load_model("sam3", device="cpu")
    assert model.info.family == "sam3"
    assert {Capability.CONCEPT, Capability.CLICK} <= model.info.capabilities


def test_add_refuses_a_file_without_its_detector_and_installs_nothing(
    sam3_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dict = torch.load(sam3_file, map_location="cpu", weights_only=True)
    partial = {
        k: v
        for k, v in state_dict.items()
        if not k.startswith(("detector.transformer.", "detector.segmentation_head."))
    }
    broken = tmp_path / "sam3.pt"
    torch.save(partial, broken)
    models = tmp_path / "models"
    assert main(["models", "--dir", str(models), "add", str(broken)]) == 1
    err = capsys.readouterr().err
    assert str(broken) in err and "no detector" in err and "download it again" in err, err
    assert not (models / "sam3.pt").exists()
