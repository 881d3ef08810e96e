"""Reading media: images of every kind, video probing, random-access video frames, bad files."""

from __future__ import annotations

import hashlib
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from model_runtime.media import MediaError, VideoReader, probe_media, read_image
from samdesk.document import AddMedia, Document, MediaKind
from samdesk.document.media_files import media_item_from_path
from samdesk.document.model import file_content_hash

# --- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "size"), [("truck.jpg", (1800, 1200)), ("dog.jpg", (800, 534))])
def test_read_real_jpeg(media_dir: Path, name: str, size: tuple[int, int]) -> None:
    image = read_image(media_dir / name)
    assert image.shape == (size[1], size[0], 3) and image.dtype == np.uint8
    assert image.flags.c_contiguous
    with Image.open(media_dir / name) as reference:
        assert np.array_equal(image, np.asarray(reference.convert("RGB")))
    info = probe_media(media_dir / name)
    assert (info.kind, info.width, info.height, info.frame_count, info.fps) == ("image", *size, 1, None)


def _pattern(height: int = 20, width: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = _pattern()
    path = tmp_path / "rotated.png"  # PNG keeps pixels exact; EXIF works the same as in JPEG
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(pixels).save(path, exif=exif)
    image = read_image(path)
    assert image.shape == (40, 20, 3)
    assert np.array_equal(image, np.rot90(pixels, k=-1))
    info = probe_media(path)
    assert (info.width, info.height) == (20, 40)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "CMYK", "I"])
def test_pixel_formats_become_rgb_uint8(tmp_path: Path, mode: str) -> None:
    source = Image.fromarray(_pattern()).convert(mode)
    path = tmp_path / f"image-{mode}.{'tif' if mode in ('CMYK', 'I') else 'png'}"
    source.save(path)
    image = read_image(path)
    assert image.shape == (20, 40, 3) and image.dtype == np.uint8
    if mode in ("L", "LA", "1", "I"):
        assert np.array_equal(image[..., 0], image[..., 1])  # gray stays gray
    if mode == "RGBA":
        assert np.array_equal(image, _pattern())  # alpha dropped, colours untouched


def test_transparent_palette(tmp_path: Path) -> None:
    source = Image.fromarray(_pattern()).convert("P")
    path = tmp_path / "transparent.png"
    source.save(path, transparency=0)
    assert read_image(path).shape == (20, 40, 3)


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)  # written as a 16-bit PNG
    assert Image.open(path).mode.startswith("I")
    image = read_image(path)
    assert image[0, :, 0].tolist() == [0, 100, 255]


def test_missing_folder_and_non_image(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "absent.jpg")
    with pytest.raises(MediaError, match="folder"):
        read_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(MediaError, match="not an image") as info:
        read_image(text)
    assert str(text) in str(info.value)


def test_truncated_and_corrupt_jpeg(media_dir: Path, tmp_path: Path) -> None:
    data = (media_dir / "dog.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="corrupt or truncated"):
        read_image(truncated)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(data[:2] + bytes(range(256)) * 4)  # a JPEG start, then garbage
    with pytest.raises(MediaError):
        read_image(corrupt)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A tiny PNG that claims ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)))


def test_oversized_images_are_refused_before_decoding(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    _png_header_only(big, 5000, 4000)
    with pytest.raises(MediaError, match="over the limit of 10 megapixels"):
        read_image(big, max_pixels=10_000_000)
    with pytest.raises(MediaError, match="megapixels"):
        probe_media(big, max_pixels=10_000_000)
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 60_000, 60_000)
    with pytest.raises(MediaError, match="large|megapixels"):
        read_image(bomb)
    with pytest.raises(MediaError, match="large|megapixels"):
        read_image(bomb, max_pixels=10**12)  # PIL's own bomb guard still answers with a MediaError


# --- video ------------------------------------------------------------------------------------


def _digest(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def bedroom_digests(media_dir: Path) -> list[str]:
    """Every frame of bedroom.mp4 decoded straight through with PyAV: the reference."""
    with av.open(str(media_dir / "bedroom.mp4")) as container:
        return [_digest(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def test_probe_videos(media_dir: Path) -> None:
    bedroom = probe_media(media_dir / "bedroom.mp4")
    assert (bedroom.kind, bedroom.width, bedroom.height, bedroom.frame_count) == ("video", 960, 540, 200)
    assert bedroom.fps == pytest.approx(30.0)
    assert not bedroom.variable_frame_rate
    cups = probe_media(media_dir / "cups.mp4")
    assert (cups.width, cups.height, cups.frame_count) == (1280, 720, 300)
    assert cups.fps == pytest.approx(29.97, abs=0.01)


def test_single_keyframe_video_reads_sequentially_without_redecoding(
    media_dir: Path, bedroom_digests: list[str]
) -> None:
    assert len(bedroom_digests) == 200
    with VideoReader(media_dir / "bedroom.mp4", cache_size=16) as reader:
        assert reader.frame_count == 200
        assert _digest(reader.read(150)) == bedroom_digests[150]
        assert reader.decoded_frames == 151  # one keyframe: frames 0..150 had to be decoded
        for index in range(151, 161):
            assert _digest(reader.read(index)) == bedroom_digests[index]
        assert reader.decoded_frames == 161  # ...but each next frame costs exactly one more decode
        assert _digest(reader.read(10)) == bedroom_digests[10]  # backwards: seek to the keyframe
        assert reader.decoded_frames == 172
        for index in range(9, -1, -1):  # stepping back further: served by the cache
            assert _digest(reader.read(index)) == bedroom_digests[index]
        assert reader.decoded_frames == 172
        assert [_digest(f) for f in reader.iter_frames(195)] == bedroom_digests[195:]
        with pytest.raises(IndexError):
            reader.read(200)
        frame = reader.read(3)
        with pytest.raises(ValueError):
            frame[0, 0, 0] = 1  # cached frames are shared, so they are read-only


def test_multi_keyframe_random_access(media_dir: Path) -> None:
    with av.open(str(media_dir / "cups.mp4")) as container:
        wanted = {0, 1, 120, 249, 250, 251, 299}
        reference = {
            i: _digest(f.to_ndarray(format="rgb24"))
            for i, f in enumerate(container.decode(video=0))
            if i in wanted
        }
    with VideoReader(media_dir / "cups.mp4") as reader:
        assert reader.frame_count == 300
        assert _digest(reader.read(299)) == reference[299]
        # cups.mp4 has keyframes at 0 and 250: frame 299 came from the one at 250, not the start.
        assert reader.decoded_frames == 50
        for index in (0, 251, 120, 250, 249, 1):
            assert _digest(reader.read(index)) == reference[index], index


def test_the_cache_keeps_the_frames_around_the_last_one_asked_for(media_dir: Path) -> None:
    """Scrubbing steps both ways around the frame on screen: when the cache is full, the frame
    farthest from it goes, not the one read longest ago; a byte budget caps big frames."""
    with VideoReader(media_dir / "cups.mp4", cache_size=4) as reader:
        assert reader.keyframes == [0, 250] and reader.cache_capacity == 4
        reader.read(20)  # a seek: frames 17-20 are kept
        assert [reader.is_cached(i) for i in (16, 17, 18, 19, 20)] == [False, True, True, True, True]
        reader.read(17)
        reader.read(18)
        reader.read(21)  # one more decode; 17, the farthest from 21, goes (not 19, used longest ago)
        assert [reader.is_cached(i) for i in (17, 18, 19, 20, 21)] == [False, True, True, True, True]
    one_frame = 1280 * 720 * 3
    with VideoReader(media_dir / "cups.mp4", cache_size=100, cache_bytes=3 * one_frame + 1) as reader:
        assert reader.cache_capacity == 3
        reader.read(60)
        assert [i for i in range(300) if reader.is_cached(i)] == [58, 59, 60]


def _write_video(path: Path, pts: list[int]) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 30)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_variable_frame_rate_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mp4"
    _write_video(path, [0, 1, 3, 4, 7, 8])
    info = probe_media(path)
    assert info.frame_count == 6 and info.variable_frame_rate
    with VideoReader(path) as reader:
        levels = [int(reader.read(i).mean()) for i in range(6)]
    assert levels == sorted(levels) and len(set(levels)) == 6  # frames by index, in order
    constant = tmp_path / "cfr.mp4"
    _write_video(constant, list(range(5)))
    assert not probe_media(constant).variable_frame_rate


def test_bad_videos(media_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 40)
    for path in (empty, garbage, tmp_path / "absent.mp4"):
        with pytest.raises(MediaError) as info:
            probe_media(path)
        assert str(path) in str(info.value)
        with pytest.raises(MediaError):
            VideoReader(path)


def test_truncated_videos(media_dir: Path, tmp_path: Path) -> None:
    # bedroom.mp4 keeps its index (moov) at the end: cut short, it is unreadable as a whole.
    data = (media_dir / "bedroom.mp4").read_bytes()
    cut = tmp_path / "bedroom-cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="bedroom-cut.mp4"):
        probe_media(cut)
    # cups.mp4 has its index first: the frames before the cut stay readable; frames whose data
    # is cut off give a MediaError, never garbage or a crash.
    data = (media_dir / "cups.mp4").read_bytes()
    cut = tmp_path / "cups-cut.mp4"
    cut.write_bytes(data[: len(data) // 7])
    with VideoReader(cut) as reader:
        assert 0 < reader.frame_count < 300
        assert reader.read(0).shape == (720, 1280, 3)
        assert reader.read(reader.frame_count // 2).shape == (720, 1280, 3)
        with pytest.raises(MediaError, match="cups-cut.mp4"):
            for index in range(reader.frame_count // 2, reader.frame_count):
                reader.read(index)


def _write_damaged_video(path: Path, frames: int, damaged: range) -> None:
    """A 64×48 H.264 video with one keyframe (MPEG-4 Part 2 where no H.264 encoder exists),
    whose packets ``damaged`` (decode order) are overwritten with 0xff bytes."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=30, options={"g": "1000", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 4 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(path)) as container:
        places = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    for position, size in places[damaged.start : damaged.stop]:
        data[position : position + size] = b"\xff" * size
    path.write_bytes(bytes(data))


def test_a_damaged_stretch_costs_one_decode_per_frame(tmp_path: Path) -> None:
    """Each bad frame used to end the decoder, so every later read decoded again from the
    keyframe and failed at the same place: 800 decodes (and every frame after the damage lost)
    for 60 frames, 27 s for a 200-frame 1080p scan."""
    path = tmp_path / "damaged.mp4"
    _write_damaged_video(path, 60, range(20, 26))
    with VideoReader(path) as reader:
        assert reader.frame_count == 60
        bad = []
        for index in range(60):
            try:
                reader.read(index)
            except MediaError as exc:
                assert "damaged.mp4" in str(exc) and f"frame {index} " in str(exc)
                bad.append(index)
        assert bad == list(range(20, 26))  # the frames after the damage are read, not lost
        assert reader.decoded_frames <= 60  # one decode per frame the file holds, no rescans
        decoded = reader.decoded_frames
        with pytest.raises(MediaError, match="frame 22 "):
            reader.read(22)  # known bad: said at once
        assert reader.decoded_frames == decoded
        assert reader.read(40).shape == (48, 64, 3)


# --- document media items ------------------------------------------------------------------------


def test_media_item_from_path(media_dir: Path) -> None:
    image = media_item_from_path(media_dir / "dog.jpg")
    assert (image.kind, image.width, image.height, image.frame_count) == (MediaKind.IMAGE, 800, 534, 1)
    assert image.content_hash == file_content_hash(media_dir / "dog.jpg")
    video = media_item_from_path(media_dir / "bedroom.mp4")
    assert (video.kind, video.frame_count, video.fps) == (MediaKind.VIDEO, 200, pytest.approx(30.0))
    document = Document()
    document.execute(AddMedia(image))
    document.execute(AddMedia(video))
    assert [m.id for m in document.project.media] == [1, 2]


def test_media_item_from_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    with pytest.raises(MediaError, match="x.png"):
        media_item_from_path(bad)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    from PIL import ImageOps

    path = tmp_path / f"o{orientation}.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_pattern(7, 5)).save(path, exif=exif)
    with Image.open(path) as reference:
        expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
    image = read_image(path)
    assert image.flags.c_contiguous and np.array_equal(image, expected)


@pytest.mark.parametrize("mode", ["P", "transparent P", "CMYK", "I;16", "I", "F", "L", "RGBA", "1"])
def test_conversion_in_strips_equals_converting_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """A strip of 3 rows at a time gives the pixels a whole-image conversion gives."""
    import model_runtime.media as media

    pattern = _pattern(23, 40)
    if mode == "I;16":
        source = Image.fromarray(pattern[..., 0].astype(np.uint16) * 257)
    elif mode in ("I", "F"):
        source = Image.fromarray(pattern[..., 0]).convert(mode)
    else:
        source = Image.fromarray(pattern).convert(mode.split()[-1])
    path = tmp_path / f"strips.{'tif' if mode in ('CMYK', 'I', 'F') else 'png'}"
    source.save(path, **({"transparency": 3} if mode == "transparent P" else {}))
    whole = read_image(path)
    monkeypatch.setattr(media, "_STRIP_PIXELS", 3 * 40)
    assert np.array_equal(read_image(path), whole)
    if mode in ("P", "transparent P", "CMYK", "L", "RGBA", "1"):
        with Image.open(path) as reference:
            assert np.array_equal(whole, np.asarray(reference.convert("RGBA").convert("RGB")))
