"""One safe loader for every image personseg decodes: files on disk and untrusted uploads.

Photos reach personseg from users' folders and, through ``personseg serve``, from anyone who
can reach the server, so decoding assumes nothing about them:

- the format is sniffed from the bytes by Pillow's plugins, limited to :data:`FORMATS`; the
  file name and its extension are never trusted;
- the pixel count is read from the header and checked against ``max_pixels`` *before* any pixel
  is decoded (a PNG of a few hundred bytes can claim 60000×60000 pixels: a decompression bomb);
- the whole image is decoded with Pillow's ``LOAD_TRUNCATED_IMAGES`` off, so a JPEG cut short is
  an error instead of half a photo padded with grey (OpenCV decodes it with a warning);
- EXIF orientation is applied, and grey, palette, 16-bit and RGBA images become RGB uint8 (16-bit
  values keep their high byte, alpha is dropped), which is what ``cv2.imread`` gave before.

Every refusal is an :class:`ImageError` (a ``ValueError``) whose message is one line naming the
file: :class:`NotAnImageError`, :class:`ImageTooLargeError` or :class:`CorruptImageError`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP: more than any phone photo, 120 MB decoded
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")  # JPEG includes MPO, phones' multi-picture JPEGs
_SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageError(ValueError):
    """An image personseg will not use; the message says which file and why."""


class NotAnImageError(ImageError):
    """Empty, or not in a format personseg reads (text, a PDF, a GIF...)."""


class ImageTooLargeError(ImageError):
    """More pixels than ``max_pixels``, refused before decoding."""


class CorruptImageError(ImageError):
    """An image whose header reads but whose pixels do not: truncated or corrupt."""


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.3g} MP"


@contextmanager
def open_image(
    source: bytes | str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Iterator[Image.Image]:
    """A Pillow image of ``source`` (bytes, or a path) whose format and pixel count were checked
    and whose pixels are not decoded yet (``load()`` decodes them; see :func:`decode`).

    Raises:
        FileNotFoundError: no such file.
        NotAnImageError, ImageTooLargeError, CorruptImageError: see the module docstring.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "image"
        size, fp = len(source), io.BytesIO(source)
    else:
        path = Path(source)
        name = name or str(path)
        if not path.is_file():
            raise FileNotFoundError(f"image not found: {path}")
        size, fp = path.stat().st_size, path
    if size == 0:
        raise NotAnImageError(f"{name} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # the size is checked below, against max_pixels
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=FORMATS)
    except UnidentifiedImageError:
        raise NotAnImageError(
            f"{name} is not an image personseg reads ({', '.join(FORMATS)})"
        ) from None
    except Image.DecompressionBombError:  # Pillow's own limit: its header claims > 179 MP
        pillow = 2 * Image.MAX_IMAGE_PIXELS
        raise ImageTooLargeError(
            f"{name} claims more than {_megapixels(pillow)}, over the limit of "
            f"{_megapixels(min(max_pixels, pillow))} (--max-pixels)"
        ) from None
    except PermissionError:
        raise
    except Exception as err:  # malformed headers: Pillow's plugins raise many exception types
        raise CorruptImageError(f"{name} is corrupt ({err})") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageTooLargeError(
                f"{name} is {w}x{h} = {_megapixels(w * h)}, over the limit of "
                f"{_megapixels(max_pixels)} (--max-pixels)"
            )
        if w * h == 0:
            raise CorruptImageError(f"{name} has no pixels ({w}x{h})")
        yield im


def decode(im: Image.Image, name: str = "image") -> Image.Image:
    """Decode every pixel of an :func:`open_image` image (truncated data is an error) and apply
    its EXIF orientation."""
    try:
        im.load()
        ImageOps.exif_transpose(im, in_place=True)
    except Exception as err:  # truncated or corrupt data: OSError, SyntaxError, ValueError...
        raise CorruptImageError(f"{name} is truncated or corrupt ({err})") from None
    return im


def to_array(im: Image.Image, alpha: bool = False) -> np.ndarray:
    """RGB (or with ``alpha`` RGBA) uint8 ``(H, W, 3|4)`` of a decoded image; 16-bit grey keeps
    its high byte, an image without alpha gets an opaque one."""
    if im.mode in _SIXTEEN_BIT_GREY:
        grey = (np.asarray(im).astype(np.int64) >> 8).clip(0, 255).astype(np.uint8)
        im = Image.fromarray(grey)
    target = "RGBA" if alpha else "RGB"
    return np.array(im if im.mode == target else im.convert(target))


def decode_image(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str = "image",
    alpha: bool = False,
) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` (RGBA with ``alpha``) from the bytes of an image file: an upload,
    a frame. ``name`` is only used in messages (never as a path)."""
    with open_image(data, max_pixels, name) as im:
        return to_array(decode(im, name), alpha)


def read_image(
    path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, alpha: bool = False
) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` (RGBA with ``alpha``) of an image file."""
    with open_image(path, max_pixels) as im:
        return to_array(decode(im, str(path)), alpha)
