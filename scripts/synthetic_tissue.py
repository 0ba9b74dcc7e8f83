"""Test-slide pixels shared by the slide generators (gen_leica, gen_ndpi, gen_ome_tiff, gen_philips,
gen_svs_jp2k, gen_ventana): smooth random colour fields with optional stripes and noise, so every
codec has detail to keep, and JPEG bytes from PIL. The parameters keep each generator's files as
they were made (cell size, noise, stripes differ per format on purpose)."""
import io

import numpy as np
from PIL import Image


def tissue(w, h, seed, cell=48, noise=10, stripes=None):
    """An h x w x 3 uint8 image. stripes = (channel, x period, y period, amplitude) adds a
    checkerboard of edges to one channel."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // cell), max(2, w // cell), 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).astype(np.int16)
    if stripes:
        ch, px, py, amp = stripes
        y, x = np.arange(h)[:, None], np.arange(w)[None, :]
        img[..., ch] += ((x // px + y // py) % 2 * amp).astype(np.int16)
    img += rng.integers(-noise, noise + 1, img.shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(arr, q=85):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=q)
    return buf.getvalue()
