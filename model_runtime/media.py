"""Reading images and video frames as RGB uint8 arrays, with clear errors for bad files.

Qt-free and document-free: the GUI, the runtime and the video models all read media here.

* :func:`read_image` -> (H, W, 3) uint8 RGB, EXIF orientation applied, any pixel format converted,
  images above a pixel limit refused before they are decoded.
* :func:`probe_media` -> :class:`MediaInfo` (kind, size, frame count, fps) without decoding pixels.
* :class:`VideoReader` -> random access to frames by index with keyframe-aware seeking and a
  small LRU cache, so that sequential reads never decode from the start again.
* A folder of image files is a video too (``model_runtime/image_sequence.py``): :func:`probe_media`
  probes it, :func:`open_video` opens a video file or such a folder with one interface.

Every failure is a :class:`MediaError` naming the file and the problem.
"""

from __future__ import annotations

import bisect
import contextlib
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    from model_runtime.image_sequence import ImageSequenceReader

# 20 000 x 20 000: a 1.2 GB RGB array. Anything larger is refused before decoding rather than
# exhausting memory (a "decompression bomb" is a tiny file that claims huge dimensions).
# Pillow's own guard refuses images above 2 * Image.MAX_IMAGE_PIXELS (about 179 megapixels by
# default) while opening, before this limit is consulted; both end as a MediaError. We do not
# change Pillow's process-wide setting here; the application may raise it at start-up.
DEFAULT_MAX_PIXELS = 20_000 * 20_000

# The image files samdesk opens, most common first: dataset importers that look for the image
# beside a label try them in this order (lower case, then upper case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # orientations that swap width and height


class MediaError(Exception):
    """A media file that cannot be read; ``str()`` names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class MediaInfo:
    """What a media file is. Images have ``frame_count`` 1 and ``fps`` None.

    ``variable_frame_rate`` is True when frame durations differ; ``fps`` is then the average
    rate and frame indices (not times) are what identify frames.
    """

    path: Path
    kind: str  # "image" or "video"
    width: int
    height: int
    frame_count: int = 1
    fps: float | None = None
    variable_frame_rate: bool = False


# --- images -----------------------------------------------------------------------------------


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file into RGB uint8 (H, W, 3), upright as its EXIF orientation says.

    Grayscale, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted.
    Raises :class:`MediaError` for missing, unreadable, corrupt, truncated or oversized images,
    and when there is not enough memory to decode one.

    Memory: the decoded file (1 to 4 bytes per pixel, as Pillow holds it) plus the result
    (3 bytes per pixel); conversion goes in strips of about ``_STRIP_PIXELS``, so no other
    full-size copy is made (a rotated image needs one more for the rotation).
    """
    path = Path(path)
    with _open_image(path, max_pixels) as image:
        try:
            image.load()
            orientation = _orientation(image)
            rgb = _to_rgb_uint8(image, path)
        except MemoryError as exc:
            raise MediaError(path, f"not enough memory to decode this {_size_text(image)} image") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise MediaError(path, f"corrupt or truncated image ({exc})") from exc
    try:
        return _upright(rgb, orientation)
    except MemoryError as exc:
        raise MediaError(path, f"not enough memory to rotate this {_size_text(rgb)} image") from exc


def _size_text(image: Image.Image | np.ndarray) -> str:
    width, height = image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])
    return f"{width}x{height} ({width * height / 1e6:.0f} megapixels)"


@contextlib.contextmanager
def _open_image(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """Open lazily (header only) and refuse images over ``max_pixels`` before any decoding."""
    try:
        with warnings.catch_warnings():
            # Our own limit below replaces PIL's warning; its hard error is still translated.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError as exc:
        raise MediaError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise MediaError(path, "is a folder, not an image") from exc
    except PermissionError as exc:
        raise MediaError(path, "permission denied") from exc
    except Image.DecompressionBombError as exc:
        raise MediaError(path, f"image is too large to open safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise MediaError(path, "not an image file samdesk can read (unknown or corrupt format)") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise MediaError(path, f"cannot read image ({exc})") from exc
    try:
        width, height = image.size
        if width * height > max_pixels:
            raise MediaError(
                path,
                f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), over the limit of "
                f"{max_pixels / 1e6:.0f} megapixels; refusing to decode it",
            )
        if width < 1 or height < 1:
            raise MediaError(path, f"image has no pixels ({width}x{height})")
        yield image
    finally:
        image.close()


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8; 1 = upright)."""
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the pixels unreadable
        return 1


# EXIF orientation -> the view of the stored pixels that shows them upright (what Pillow's
# ImageOps.exif_transpose does, on the array: no second full-size Pillow image).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    view = _UPRIGHT.get(orientation)
    return rgb if view is None else np.ascontiguousarray(view(rgb))


# Pixels converted at a time: the strip's copies are all the conversion needs besides the result.
_STRIP_PIXELS = 1 << 22


def _to_rgb_uint8(image: Image.Image, path: Path) -> np.ndarray:
    """(H, W, 3) uint8 of any Pillow mode, converted strip by strip into the result."""
    width, height = image.size
    convert = _strip_converter(image, path)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        rgb[top:bottom] = convert(image.crop((0, top, width, bottom)))
    return rgb


def _strip_converter(image: Image.Image, path: Path) -> Callable[[Image.Image], np.ndarray]:
    """A function from a strip of ``image`` to RGB uint8 (h, w, 3) or gray uint8 (h, w, 1)."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit (or 32-bit int) grayscale: PIL's convert("RGB") would clip, not scale.
        _, high = image.getextrema()
        scale = 255.0 / (65535.0 if mode.startswith("I;16") or high > 255 else 255.0)

        def gray(strip: Image.Image) -> np.ndarray:
            values = np.asarray(strip, dtype=np.float64)
            return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)[:, :, None]

        return gray
    if mode == "F":

        def clipped(strip: Image.Image) -> np.ndarray:
            values = np.asarray(strip, dtype=np.float64)
            return np.clip(np.rint(values), 0, 255).astype(np.uint8)[:, :, None]

        return clipped
    # Converting a transparent palette straight to RGB warns; through RGBA gives the same colours.
    via_rgba = mode == "P" and "transparency" in image.info

    def colour(strip: Image.Image) -> np.ndarray:
        try:
            rgb = (strip.convert("RGBA") if via_rgba else strip).convert("RGB")
        except (OSError, ValueError) as exc:
            raise MediaError(path, f"cannot convert {mode} image to RGB ({exc})") from exc
        array = np.asarray(rgb, dtype=np.uint8)
        if array.ndim != 3 or array.shape[2] != 3:
            raise MediaError(path, f"unexpected pixel layout {array.shape} after converting {mode} to RGB")
        return array

    return colour


def _probe_image(path: Path, max_pixels: int) -> MediaInfo:
    with _open_image(path, max_pixels) as image:
        width, height = image.size
        orientation = _orientation(image)
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    return MediaInfo(path=path, kind="image", width=width, height=height)


# --- probing ------------------------------------------------------------------------------------


def probe_media(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaInfo:
    """Kind, size, frame count and fps of an image or video, without decoding its pixels.

    The kind comes from the suffix when known; otherwise the file is tried as an image, then as
    a video. A folder of image files is a video (``image_sequence.probe_sequence``).
    Raises :class:`MediaError`.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file")
    if path.is_dir():
        from model_runtime.image_sequence import probe_sequence

        return probe_sequence(path, max_pixels=max_pixels)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return _probe_image(path, max_pixels)
    if suffix in VIDEO_SUFFIXES:
        return _VideoIndex.scan(path).info
    try:
        return _probe_image(path, max_pixels)
    except MediaError as image_error:
        try:
            return _VideoIndex.scan(path).info
        except MediaError:
            raise MediaError(path, "neither an image nor a video samdesk can read") from image_error


# --- video --------------------------------------------------------------------------------------


def open_video(
    path: str | Path, *, cache_size: int = 16, cache_bytes: int | None = None
) -> VideoReader | ImageSequenceReader:
    """A reader of ``path``'s frames: a :class:`VideoReader` for a video file, an
    :class:`~model_runtime.image_sequence.ImageSequenceReader` for a folder of image files. Both
    have ``info``, ``frame_count``, ``read(i)``, ``is_cached(i)``, ``iter_frames()`` and
    ``close()``; they keep at most ``cache_size`` decoded frames, and at most ``cache_bytes``
    of them when given."""
    from model_runtime.image_sequence import ImageSequenceReader

    if Path(path).is_dir():
        return ImageSequenceReader(path, cache_size=cache_size, cache_bytes=cache_bytes)
    return VideoReader(path, cache_size=cache_size, cache_bytes=cache_bytes)


def cache_capacity(info: MediaInfo, cache_size: int, cache_bytes: int | None) -> int:
    """How many decoded RGB frames of ``info``'s size a reader keeps: ``cache_size``, fewer when
    they would exceed ``cache_bytes`` (a 4K frame is 25 MB), at least one."""
    capacity = max(1, cache_size)
    if cache_bytes is not None:
        capacity = min(capacity, cache_bytes // max(1, info.width * info.height * 3))
    return max(1, capacity)


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError as exc:
        raise MediaError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise MediaError(path, "is a folder, not a video") from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(path, f"not a video samdesk can read ({exc})") from exc


@dataclass(frozen=True)
class _VideoIndex:
    """Presentation timestamps of every frame, in display order, and which are keyframes.

    Built by demuxing the file once (reading packets, decoding nothing): fast, and it gives the
    true frame count where container metadata is missing or wrong.
    """

    info: MediaInfo
    pts: list[int]  # pts of frame i, ascending
    keyframes: list[int]  # indices of keyframes, ascending
    time_base: Fraction

    @classmethod
    def scan(cls, path: Path) -> _VideoIndex:
        container = _open_container(path)
        try:
            if not container.streams.video:
                raise MediaError(path, "has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            entries: list[tuple[int, bool]] = []
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.pts is None:
                        continue  # the demuxer's end-of-stream marker, or an unusable packet
                    entries.append((int(packet.pts), bool(packet.is_keyframe)))
            except (av.FFmpegError, OSError, ValueError) as exc:
                if not entries:
                    raise MediaError(path, f"corrupt video ({exc})") from exc
                # A damaged tail: the frames before it stay usable.
            time_base = stream.time_base or Fraction(1, 1)
            rate = stream.average_rate or stream.guessed_rate
        finally:
            container.close()
        if not entries:
            raise MediaError(path, "video has no frames")
        if width < 1 or height < 1:
            raise MediaError(path, f"video has no picture size ({width}x{height})")
        entries.sort()
        pts = [p for p, _ in entries]
        keyframes = [i for i, (_, key) in enumerate(entries) if key] or [0]
        if keyframes[0] != 0:
            keyframes.insert(0, 0)  # frames before the first keyframe decode only from the start
        steps = np.diff(np.asarray(pts, dtype=np.int64))
        variable = bool(len(steps) > 1 and steps.max() - steps.min() > max(1, int(steps.min()) // 100))
        fps = float(rate) if rate else (_fps_from_pts(steps, time_base) if len(steps) else None)
        info = MediaInfo(
            path=path, kind="video", width=int(width), height=int(height), frame_count=len(pts),
            fps=fps, variable_frame_rate=variable,
        )
        return cls(info=info, pts=pts, keyframes=keyframes, time_base=Fraction(time_base))


def _fps_from_pts(steps: np.ndarray, time_base: Fraction) -> float | None:
    mean_step = float(steps.mean()) * float(time_base)
    return 1.0 / mean_step if mean_step > 0 else None


class VideoReader:
    """Frames of a video by index (display order), as RGB uint8 (H, W, 3).

    Seeking goes to the nearest keyframe at or before the target and decodes forward (the
    keyframe index, ``keyframes``, comes from one scan of the packets). The decoder stays where
    the last read left it, so reading ``i + 1`` after ``i`` decodes one frame (a video with a
    single keyframe would otherwise be decoded from the start every time). Decoded frames are
    kept in a cache of ``cache_size`` frames (fewer if they would exceed ``cache_bytes``); when
    it is full, the frame farthest from the one asked for last goes, so the frames around where
    the user is stay, whichever way they step. After a seek, the frames decoded on the way to
    the target that fit in the cache are kept too, so stepping backwards does not re-decode
    from the keyframe for every frame.

    ``frame_count`` counts the frames the file holds data for (packets, not metadata). In a file
    cut short, the last few of those may still be undecodable (they reference data past the
    cut); reading them raises :class:`MediaError`, never returns a wrong frame.

    A damaged stretch inside the file costs what a good one does: a packet the codec rejects
    is skipped and decoding goes on with the next, so the frames after it still come out (the
    codec conceals what they lose); the frames that never come out are remembered as bad, and
    reading one again raises at once instead of decoding from the keyframe again.

    Not thread-safe: use one reader per thread. Close it (or use ``with``) to free the decoder.
    """

    def __init__(self, path: str | Path, *, cache_size: int = 16, cache_bytes: int | None = None) -> None:
        self.path = Path(path)
        self._index = _VideoIndex.scan(self.path)
        self._pts_to_frame = {p: i for i, p in enumerate(self._index.pts)}
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache_capacity(self._index.info, cache_size, cache_bytes)
        self._cursor = 0  # the frame asked for last: the cache keeps the frames around it
        self._container = _open_container(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame-threaded decoding: several frames decode at once
        self._decoder: Iterator[av.VideoFrame] | None = None
        self._position = -1  # index of the last frame the decoder produced; -1 = must seek
        self._seeked_to = 0  # the keyframe the decoder started from
        self._bad: dict[int, str] = {}  # frames found undecodable -> why
        self._last_error = ""  # the codec's last complaint, for the message of a bad frame
        self.decoded_frames = 0  # frames decoded so far (for tests and benchmarks)
        self.closed = False

    # --- public -----------------------------------------------------------------------------

    @property
    def info(self) -> MediaInfo:
        return self._index.info

    @property
    def frame_count(self) -> int:
        return self._index.info.frame_count

    @property
    def keyframes(self) -> list[int]:
        """Indices of the keyframes, ascending (the first is 0): a seek decodes from the one at
        or before its target."""
        return list(self._index.keyframes)

    @property
    def cache_capacity(self) -> int:
        return self._cache_size

    def is_cached(self, frame_index: int) -> bool:
        """Whether reading ``frame_index`` now would decode nothing."""
        return frame_index in self._cache

    def read(self, frame_index: int) -> np.ndarray:
        """RGB uint8 (H, W, 3) of frame ``frame_index``. Raises IndexError or MediaError.

        The returned array is shared with the cache: copy it before modifying it.
        """
        if not 0 <= frame_index < self.frame_count:
            raise IndexError(f"{self.path}: frame {frame_index} out of range 0-{self.frame_count - 1}")
        if self.closed:
            raise MediaError(self.path, "the video reader was closed")
        self._cursor = frame_index
        cached = self._cache.get(frame_index)
        if cached is not None:
            self._cache.move_to_end(frame_index)
            return cached
        if frame_index in self._bad:
            raise MediaError(self.path, self._bad[frame_index])
        keyframe = self._keyframe_before(frame_index)
        sequential = self._decoder is not None and keyframe <= self._position < frame_index
        if not sequential:
            self._seek(keyframe)
        # After a seek, keep the frames leading up to the target too (cheap: they are decoded anyway).
        keep_from = frame_index if sequential else frame_index - self._cache_size + 1
        return self._decode_until(frame_index, keep_from)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start`` .. ``stop - 1`` in order, each decoded once."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        for index in range(start, stop):
            yield self.read(index)

    def close(self) -> None:
        """Free the decoder and the cached frames; reading afterwards raises MediaError."""
        if self.closed:
            return
        self.closed = True
        self._decoder = None
        self._cache.clear()
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- decoding -----------------------------------------------------------------------------

    def _keyframe_before(self, frame_index: int) -> int:
        keyframes = self._index.keyframes
        return keyframes[bisect.bisect_right(keyframes, frame_index) - 1]

    def _seek(self, keyframe: int) -> None:
        try:
            # backward=True + any_frame=False: land on the keyframe at or before this pts.
            target = self._index.pts[keyframe]
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise MediaError(self.path, f"cannot seek to frame {keyframe} ({exc})") from exc
        self._decoder = self._decode_packets()
        self._position = -1
        self._seeked_to = keyframe

    def _decode_packets(self) -> Iterator[av.VideoFrame]:
        """Frames from the demuxer's position on, one packet at a time, so that a packet the
        codec rejects costs that packet only (``container.decode`` would end at the first)."""
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.FFmpegError, OSError, ValueError) as exc:  # the container breaks off here
                self._last_error = str(exc)
                return
            try:
                frames = packet.decode()
            except (av.FFmpegError, OSError, ValueError) as exc:
                self._last_error = str(exc)
                continue
            yield from frames

    def _decode_until(self, target: int, keep_from: int) -> np.ndarray:
        assert self._decoder is not None
        while True:
            frame = next(self._decoder, None)
            if frame is None:
                first = self._next_expected()
                self._decoder, self._position = None, -1
                reason = self._reason("could not be decoded (the stream ended early)")
                self._mark_bad(range(first, self.frame_count), reason)
                raise MediaError(self.path, f"frame {target} {reason}")
            self.decoded_frames += 1
            index = self._frame_index(frame)
            if index is None:
                continue
            first = self._next_expected()
            self._position = index
            if index >= keep_from or index > target:
                self._remember(index, frame.to_ndarray(format="rgb24"))
            if index > target:
                # The frames from ``first`` up to this one never came out: the file is damaged
                # there. Say so, never guess; the decoder carries on from here for later frames.
                reason = self._reason("is missing from the decoded stream (damaged video data)")
                self._mark_bad(range(first, index), reason)
                if target in self._bad:
                    raise MediaError(self.path, self._bad[target])
                raise MediaError(self.path, f"frame {target} {reason}")
            if index == target:
                return self._cache[target]

    def _next_expected(self) -> int:
        return self._position + 1 if self._position >= 0 else self._seeked_to

    def _reason(self, what: str) -> str:
        return f"{what} ({self._last_error})" if self._last_error else what

    def _mark_bad(self, frames: range, reason: str) -> None:
        for index in frames:
            if index not in self._cache:
                self._bad.setdefault(index, f"frame {index} {reason}")

    def _frame_index(self, frame: av.VideoFrame) -> int | None:
        if frame.pts is not None:
            return self._pts_to_frame.get(int(frame.pts))
        # No pts (rare raw streams): count from the last known position.
        return self._position + 1 if self._position >= 0 else None

    def _remember(self, index: int, rgb: np.ndarray) -> None:
        rgb.setflags(write=False)  # shared with callers through the cache: nobody may change it
        self._cache[index] = rgb
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            # The farthest from where the reader was asked last (of equals, the oldest).
            cursor = self._cursor
            del self._cache[max(self._cache, key=lambda i: abs(i - cursor))]
