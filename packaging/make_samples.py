"""Regenerate the bundled sample media from scikit-image's sample data (CC0 / public domain).

    pip install scikit-image && python packaging/make_samples.py

The photos are re-encoded as JPEG; the video is our own: a slow pan and zoom across the cat
photo, so that objects move between frames. See resources/samples/LICENSES.md.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image
from skimage import data

# The samples live in resources/ and install inside the package as samdesk.assets (samdesk/resources.py).
OUT = Path(__file__).resolve().parent.parent / "resources" / "samples"
PHOTOS = {"cat.jpg": data.chelsea, "coffee.jpg": data.coffee, "astronaut.jpg": data.astronaut}


def make_photos() -> None:
    for name, loader in PHOTOS.items():
        Image.fromarray(loader()).save(OUT / name, quality=90)


def make_pan_video(frames: int = 36, size: tuple[int, int] = (320, 224)) -> None:
    source = Image.fromarray(data.chelsea())  # 451×300
    w, h = size
    with av.open(str(OUT / "cat_pan.mp4"), "w") as container:
        stream = container.add_stream("h264", rate=12)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "28", "g": "12"}  # a keyframe every second: cheap seeking
        for i in range(frames):
            t = i / (frames - 1)
            crop_w = 360 - 60 * t  # zoom in while panning right
            crop_h = crop_w * h / w
            x0 = 10 + (source.width - crop_w - 20) * t
            y0 = (source.height - crop_h) * (0.3 + 0.2 * t)
            frame = source.resize(size, Image.BICUBIC, box=(x0, y0, x0 + crop_w, y0 + crop_h))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    make_photos()
    make_pan_video()
