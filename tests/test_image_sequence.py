"""A folder of image files is a video: probing, reading, identity, presence and the SAM 2 frame source."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model_runtime.image_sequence import ImageSequenceReader, is_sequence, sequence_files
from model_runtime.media import MediaError, VideoReader, open_video, probe_media, read_image
from samdesk.document import Project
from samdesk.document.media_files import media_item_from_path, media_present
from samdesk.document.model import MediaKind, file_content_hash
from samdesk.document.persistence import load_project, save_project


def _frames(folder: Path, names: list[str], size: tuple[int, int] = (24, 16)) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = []
    for i, name in enumerate(names):
        rgb = np.zeros((size[1], size[0], 3), np.uint8)
        rgb[..., 0] = 10 * i
        rgb[i % size[1], :, 1] = 255
        Image.fromarray(rgb).save(folder / name)
        pixels.append(rgb)
    return pixels


def test_frames_sort_by_number_then_by_name_and_hidden_or_other_files_are_not_frames(tmp_path: Path) -> None:
    _frames(tmp_path, ["10.png", "2.png", "b.png", "a.png", "00001.png", ".hidden.png", "._3.png"])
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    _frames(tmp_path / "sub", ["0.png"])
    names = [p.name for p in sequence_files(tmp_path)]
    assert names == ["00001.png", "2.png", "10.png", "a.png", "b.png"]


def test_a_folder_of_images_probes_and_reads_as_a_video(tmp_path: Path) -> None:
    names = [f"{i:05d}.png" for i in (0, 5, 10)]
    pixels = _frames(tmp_path / "seq", names)
    info = probe_media(tmp_path / "seq")
    assert (info.kind, info.width, info.height, info.frame_count, info.fps) == ("video", 24, 16, 3, None)
    with open_video(tmp_path / "seq") as reader:
        assert isinstance(reader, ImageSequenceReader) and reader.frame_count == 3
        for index in (2, 0, 1):
            assert np.array_equal(reader.read(index), pixels[index])
        assert [f.name for f in reader.files] == names
        with pytest.raises(IndexError):
            reader.read(3)
    assert isinstance(open_video(_video(tmp_path)), VideoReader)


def _video(tmp_path: Path) -> Path:
    from tests.hostile.datasets import write_video

    return write_video(tmp_path / "videos")


def test_a_frame_of_another_size_and_an_empty_folder_are_clear_errors(tmp_path: Path) -> None:
    _frames(tmp_path / "seq", ["00000.png", "00001.png"])
    _frames(tmp_path / "other", ["x.png"], size=(30, 16))
    os.replace(tmp_path / "other" / "x.png", tmp_path / "seq" / "00002.png")
    reader = open_video(tmp_path / "seq")
    with pytest.raises(MediaError, match="00002.png: frame 2 is 30x16, the first frame is 24x16"):
        reader.read(2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no image files"):
        probe_media(tmp_path / "empty")
    assert not is_sequence(tmp_path / "empty") and is_sequence(tmp_path / "seq")


def test_symlinked_folders_and_frames_are_followed(tmp_path: Path) -> None:
    pixels = _frames(tmp_path / "store", ["00000.png", "00001.png"])
    (tmp_path / "seq").mkdir()
    for name in ("00000.png", "00001.png"):
        (tmp_path / "seq" / name).symlink_to(tmp_path / "store" / name)
    (tmp_path / "linked").symlink_to(tmp_path / "seq", target_is_directory=True)
    with open_video(tmp_path / "linked") as reader:
        assert reader.frame_count == 2 and np.array_equal(reader.read(1), pixels[1])


def test_a_frame_folder_is_a_media_item_with_a_content_identity(tmp_path: Path) -> None:
    _frames(tmp_path / "seq", ["00000.png", "00001.png"])
    item = media_item_from_path(tmp_path / "seq")
    assert (item.kind, item.frame_count, item.width, item.height) == (MediaKind.VIDEO, 2, 24, 16)
    assert item.content_hash == file_content_hash(tmp_path / "seq")
    _frames(tmp_path / "seq", ["00000.png", "00001.png", "00002.png"])
    assert file_content_hash(tmp_path / "seq") != item.content_hash
    assert media_present(tmp_path / "seq") and not media_present(tmp_path / "absent")


def test_a_project_with_a_frame_folder_video_does_not_report_it_missing(tmp_path: Path) -> None:
    from samdesk.document import AddMedia, Document

    _frames(tmp_path / "seq", ["00000.png", "00001.png"])
    document = Document(Project())
    document.execute(AddMedia(media_item_from_path(tmp_path / "seq")))
    save_project(document.project, tmp_path / "p.samdesk.json")
    loaded = load_project(tmp_path / "p.samdesk.json")
    assert loaded.missing_media == []
    assert loaded.project.media[0].path == str(tmp_path / "seq")


def test_sam2_folder_frames_see_the_same_frames_as_the_media_reader(tmp_path: Path) -> None:
    from model_runtime.models.sam2.frame_sources import open_frames

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: every reader must show it upright, or masks land beside the object
    folder = tmp_path / "seq"
    _frames(folder, ["10.png", "2.png"], size=(24, 16))
    for name in ("10.png", "2.png"):
        with Image.open(folder / name) as image:
            image.load()
            image.save(folder / name, exif=exif)
    source = open_frames(folder)
    assert source.frame_size == (24, 16)
    with open_video(folder) as reader:
        assert len(source) == reader.frame_count == 2
        for index in range(2):
            assert np.array_equal(source.read(index), reader.read(index))
    assert np.array_equal(source.read(1), read_image(folder / "10.png"))
