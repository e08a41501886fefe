"""Tests for dashboard.figures.faces: PNG mosaics of face thumbnails and the congruence curve."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import pytest

from dashboard.figures import faces as ff


def decode_png(uri: str) -> np.ndarray:
    """Decode the RGB PNG data URIs written by ``faces._png_data_uri`` ("Up" filter rows)."""
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri[len(prefix) :])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + data)
        chunks[tag] = data
        pos += 12 + length
    w, h, depth, color_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color_type) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 2).all()
    return np.cumsum(raw[:, 1:], axis=0, dtype=np.uint8).reshape(h, w, 3)


@pytest.fixture
def faces():
    """Five 4 × 6 faces; face i is filled with grey level 40 i plus a seeded texture."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 30, (5, 4, 6, 3))
    return (40 * np.arange(5)[:, None, None, None] + texture).astype(np.uint8)


def test_png_round_trip_is_lossless():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(ff._png_data_uri(image)), image)


def test_shrink_box_averages_by_an_integer_factor():
    image = np.zeros((1, 4, 6, 3), np.uint8)
    image[0, :2, :2] = 200  # one 2 × 2 block
    small = ff._shrink(image, 3)
    assert small.shape == (1, 2, 3, 3) and small.dtype == np.uint8
    assert small[0, 0, 0, 0] == 200 and small[0, 1:, 1:].max() == 0
    assert ff._shrink(image, 6) is image
    with pytest.raises(ValueError, match="tile_size"):
        ff._shrink(image, 0)


def test_stimulus_strip_mosaic_layout_and_captions(faces):
    captions = ["id0 · happy", "id1 · sad", "id2 · angry", "id3 · fear", "id4 · neutral"]
    fig = ff.stimulus_strip_figure(faces, captions, n_columns=3, model_made=[0, 1, 0, 0, 1], title="faces")
    assert [t.type for t in fig.data] == ["image", "scatter"]
    mosaic = decode_png(fig.data[0].source)
    assert mosaic.shape == (2 * 4, 3 * 6, 3)
    np.testing.assert_array_equal(mosaic[0:4, 6:12], faces[1])  # row 0, column 1
    np.testing.assert_array_equal(mosaic[4:8, 0:6], faces[3])  # row 1, column 0
    assert (mosaic[4:8, 12:18] == 255).all()  # padding tile is white
    hover = list(fig.data[1].text)
    assert hover == ["id0 · happy", "<i>id1 · sad</i>*", "id2 · angry", "id3 · fear", "<i>id4 · neutral</i>*"]
    # hover markers sit at the tile centres
    np.testing.assert_allclose(fig.data[1].x, [2.5, 8.5, 14.5, 2.5, 8.5])
    np.testing.assert_allclose(fig.data[1].y, [1.5, 1.5, 1.5, 5.5, 5.5])
    texts = [a.text for a in fig.layout.annotations]
    assert texts[:5] == hover and "* label predicted by a model" in texts
    assert fig.layout.title.text == "faces"
    assert fig.layout.xaxis.visible is False


def test_stimulus_strip_caps_the_number_of_images(faces):
    fig = ff.stimulus_strip_figure(faces, list("abcde"), max_images=2)
    assert decode_png(fig.data[0].source).shape == (4, 2 * 6, 3)
    assert fig.layout.title.text == "first 2 of 5"
    assert len(fig.data[1].x) == 2
    assert not any("model" in a.text for a in fig.layout.annotations)


def test_stimulus_strip_shrinks_large_faces():
    big = np.zeros((2, 200, 100, 3), np.uint8)
    fig = ff.stimulus_strip_figure(big, ["a", "b"], tile_size=96)
    assert decode_png(fig.data[0].source).shape == (66, 2 * 33, 3)


def test_stimulus_strip_rejects_bad_inputs(faces):
    with pytest.raises(ValueError, match="captions has length 2 but images has length 5"):
        ff.stimulus_strip_figure(faces, ["a", "b"])
    with pytest.raises(ValueError, match="model_made has length 1 but images has length 5"):
        ff.stimulus_strip_figure(faces, list("abcde"), model_made=[True])
    with pytest.raises(ValueError, match="uint8"):
        ff.stimulus_strip_figure(faces.astype(float), list("abcde"))
    with pytest.raises(ValueError, match=r"\(n, h, w, 3\)"):
        ff.stimulus_strip_figure(faces[..., 0], list("abcde"))


def test_difference_figure_draws_one_row_per_region_with_its_interval_and_p():
    fig = ff.difference_figure(["FFC_R", "STSvp_R"], [0.2, -0.1], [0.05, -0.3], [0.3, 0.02], [0.0004, 0.25],
                               hover=["conv256_2 vs dense3", "fc vs dense3"], title="identity − expression")
    (dots,) = fig.data
    assert dots.type == "scatter" and list(dots.y) == ["FFC_R", "STSvp_R"]
    np.testing.assert_allclose(dots.x, [0.2, -0.1])
    np.testing.assert_allclose(dots.error_x.array, [0.1, 0.12])  # ci_high − observed
    np.testing.assert_allclose(dots.error_x.arrayminus, [0.15, 0.2])  # observed − ci_low
    assert dots.error_x.symmetric is False
    assert list(dots.text) == ["p < 0.001", "p = 0.250"]
    assert dots.customdata[0][2] == "<br>conv256_2 vs dense3"
    (zero,) = fig.layout.shapes
    assert zero.x0 == zero.x1 == 0.0 and zero.line.dash == "dash"
    assert fig.layout.yaxis.autorange == "reversed"  # first region on top
    assert fig.layout.xaxis.title.text == "r(identity net) − r(expression net)"


def test_difference_figure_rejects_mismatched_or_inconsistent_input():
    with pytest.raises(ValueError, match="ci_low has length 1 but regions has length 2"):
        ff.difference_figure(["a", "b"], [0.1, 0.2], [0.0], [0.3, 0.3], [0.5, 0.5])
    with pytest.raises(ValueError, match="must contain its observed"):
        ff.difference_figure(["a"], [0.5], [0.0], [0.3], [0.5])
    with pytest.raises(ValueError, match="regions is empty"):
        ff.difference_figure([], [], [], [], [])
