"""release_pages: a module's memory-mapped weights leave the resident set and read the same after."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from model_runtime.models.common.resident import mapped_tensors, release_pages

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc and madvise")


def _mapped_rss_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path``."""
    total, current = 0, False
    with open("/proc/self/smaps", encoding="utf-8") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and not fields[0].endswith(":"):  # a mapping's first line: "start-end perms ..."
                current = line.rstrip("\n").endswith(str(path))
            elif current and fields[0] == "Rss:":
                total += int(fields[1])
    return total


def test_mapped_weights_leave_the_resident_set_and_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.randn(2048, 1024), "bias": torch.randn(1024)}, path)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    with torch.device("meta"):
        layer = nn.Linear(1024, 2048)
    layer.load_state_dict({"weight": state["weight"], "bias": torch.randn(2048)}, assign=True)
    expected = layer.weight.sum().item()  # touches every page of the 8 MiB weight
    assert [t.data_ptr() for t in mapped_tensors(layer)] == [layer.weight.data_ptr()]  # bias: a copy
    before = _mapped_rss_kib(path)
    assert before >= 7 * 1024

    released = release_pages(layer)

    assert released >= 8 * 1024 * 1024 - 2 * 4096
    assert _mapped_rss_kib(path) <= before - 7 * 1024
    assert layer.weight.sum().item() == expected  # mapped again from the file


def test_ordinary_tensors_are_left_alone() -> None:
    layer = nn.Linear(256, 256)
    weight = layer.weight.detach().clone()
    assert mapped_tensors(layer) == []
    assert release_pages(layer) == 0
    assert torch.equal(layer.weight, weight)


def test_a_mapping_with_a_written_weight_is_not_released(tmp_path: Path) -> None:
    """A weight changed in place lives in the process's own copy of its page: releasing that page
    would silently bring back the file's value, so such a mapping is left alone."""
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2048, 1024)}, path)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    layer = nn.Linear(1024, 2048)
    layer.load_state_dict({"weight": state["weight"], "bias": torch.zeros(2048)}, assign=True)
    with torch.no_grad():
        layer.weight[0, 0] = 1.0  # one written page: the mapping now holds an anonymous copy
    assert mapped_tensors(layer) == []
    release_pages(layer)
    assert layer.weight[0, 0].item() == 1.0
