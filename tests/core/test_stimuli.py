"""Tests for core.stimuli and core._rcc on tiny images, videos and resource files made in tmp_path."""

from __future__ import annotations

import importlib.util
import io
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import stimuli as st
from core._rcc import RccError, read_rcc
from core.stimuli import (
    RESIZE_MODES,
    StimulusError,
    StimulusSet,
    build_stimulus_library,
    content_hashes,
    decode_image,
    from_arrays,
    from_files,
    from_folder,
    from_upload,
    from_video,
    load_images,
    load_images_with_report,
)
from core.stimuli import decoding as st_decoding
from core.stimuli import library as st_library

REAL_RCC = st.GCOMPRIS_RCC_DIR / "categorization.rcc"


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A valid 2 x 2 PNG whose IHDR is patched to claim ``width x height`` (CRC fixed)."""
    buffer = io.BytesIO()
    Image.new("L", (2, 2)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------------------- decoding


def test_decode_cmyk_jpeg_gives_rgb(tmp_path):
    path = _save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "red.jpg", quality=95)
    rgb = decode_image(path)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert rgb[..., 0].mean() > 230 and rgb[..., 1:].mean() < 25


def test_decode_16bit_png_scales_to_8bit(tmp_path):
    values = np.array([[0, 65535], [32896, 257 * 10]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    rgb = decode_image(path)
    np.testing.assert_array_equal(rgb[..., 0], [[0, 255], [128, 10]])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_decode_palette_png_with_transparency_composites_on_grey(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    path = _save(image, tmp_path / "pal.png", transparency=0)
    rgb = decode_image(path)
    np.testing.assert_array_equal(rgb[0, 0], [128, 128, 128])
    np.testing.assert_array_equal(rgb[0, 1], [255, 0, 0])


def test_decode_la_and_rgba_composite_alpha_on_grey(tmp_path):
    la = Image.fromarray(np.array([[[255, 0], [255, 255]]], dtype=np.uint8), mode="LA")
    rgb = decode_image(_save(la, tmp_path / "la.png"))
    np.testing.assert_array_equal(rgb[0, :, 0], [128, 255])
    rgba = Image.new("RGBA", (1, 1), (255, 0, 0, 128))
    rgb = decode_image(_save(rgba, tmp_path / "rgba.png"))
    np.testing.assert_allclose(rgb[0, 0], [192, 64, 64], atol=1)


def test_decode_greyscale_and_1bit(tmp_path):
    grey = Image.fromarray(np.array([[0, 77], [200, 255]], dtype=np.uint8))
    rgb = decode_image(_save(grey, tmp_path / "grey.png"))
    np.testing.assert_array_equal(rgb, np.repeat(np.array([[0, 77], [200, 255]])[..., None], 3, axis=2))
    bits = Image.new("1", (2, 1))
    bits.putpixel((1, 0), 1)
    rgb = decode_image(_save(bits, tmp_path / "bits.png"))
    np.testing.assert_array_equal(rgb[0, :, 1], [0, 255])


def test_decode_float_tiff_maps_unit_range(tmp_path):
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    path = _save(Image.fromarray(values, mode="F"), tmp_path / "float.tif")
    np.testing.assert_array_equal(decode_image(path)[0, :, 0], [0, 128, 255])


def test_decode_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgb = decode_image(path)
    assert rgb[..., 0].mean() > 200 and rgb[..., 2].mean() < 50


def test_decode_accepts_bytes(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (10, 20, 30)).save(buffer, format="PNG")
    np.testing.assert_array_equal(decode_image(buffer.getvalue())[1, 2], [10, 20, 30])


@pytest.mark.parametrize("mode", sorted(st_decoding._MODE_CONVERTERS))
def test_every_registered_mode_converts_to_rgb(mode):
    rgb = st_decoding._to_rgb(Image.new(mode, (3, 2)), "new")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8


def test_decode_truncated_jpeg_names_file(tmp_path, rng):
    path = _save(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(StimulusError, match=r"cut\.jpg.*cannot be decoded"):
        decode_image(path)


def test_decode_empty_and_text_files_are_refused(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(StimulusError, match=r"empty\.png: empty file"):
        decode_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(StimulusError, match=r"notes\.jpg: not a recognised image format"):
        decode_image(text)
    with pytest.raises(StimulusError, match="no such file"):
        decode_image(tmp_path / "absent.png")


@pytest.mark.parametrize("side", [8_000, 12_000, 20_000])
def test_decode_refuses_huge_header_without_decoding(tmp_path, side):
    path = _png_claiming(tmp_path / f"bomb{side}.png", side, side)
    assert path.stat().st_size < 200
    start = time.perf_counter()
    with pytest.raises(StimulusError, match=rf"bomb{side}\.png.*(max_pixels|decompression bomb)"):
        decode_image(path)
    assert time.perf_counter() - start < 1.0


def test_decode_own_limit_names_size(tmp_path):
    path = _png_claiming(tmp_path / "big.png", 8_000, 6_000)
    with pytest.raises(StimulusError, match=r"big\.png: refused without decoding: the image is 8,000 x 6,000"):
        decode_image(path)
    small = _save(Image.new("RGB", (20, 10)), tmp_path / "small.png")
    with pytest.raises(StimulusError, match="20 x 10 = 200 pixels"):
        decode_image(small, max_pixels=100)


# --------------------------------------------------------------------------------------- sets & loading


def _half_black_half_white() -> np.ndarray:
    image = np.zeros((4, 8, 3), dtype=np.uint8)
    image[:, 4:] = 255
    return image


def test_resize_center_crop_keeps_the_middle():
    images = load_images(from_arrays(_half_black_half_white()[None]), size=(4, 4), resize_mode="center_crop")
    expected = np.zeros((4, 4, 3), dtype=np.uint8)
    expected[:, 2:] = 255
    np.testing.assert_array_equal(images[0], expected)


def test_resize_pad_adds_grey_bars():
    images = load_images(from_arrays(_half_black_half_white()[None]), size=(8, 8), resize_mode="pad")
    np.testing.assert_array_equal(images[0, :2], 128)
    np.testing.assert_array_equal(images[0, 6:], 128)
    np.testing.assert_array_equal(images[0, 2:6], _half_black_half_white())


def test_resize_stretch_squeezes_width():
    image = load_images(from_arrays(_half_black_half_white()[None]), size=(4, 4), resize_mode="stretch")[0]
    assert image.shape == (4, 4, 3)
    assert image[:, 0].max() == 0 and image[:, 3].min() == 255
    assert image[0, 1, 0] < 128 < image[0, 2, 0]


@pytest.mark.parametrize("mode", sorted(RESIZE_MODES))
def test_every_resize_mode_gives_requested_size(mode, rng):
    stimuli = from_arrays(rng.integers(0, 255, (2, 5, 9, 3), dtype=np.uint8))
    assert load_images(stimuli, size=(6, 7), resize_mode=mode).shape == (2, 6, 7, 3)


def test_unknown_resize_mode_lists_choices():
    with pytest.raises(ValueError, match="choose from"):
        load_images(from_arrays(np.zeros((1, 2, 2), np.uint8)), resize_mode="zoom")


def test_from_arrays_grey_and_rgba():
    grey = from_arrays(np.full((2, 3, 3), 50, dtype=np.uint8), labels=["a", "b"])
    np.testing.assert_array_equal(load_images(grey, size=(3, 3)), 50)
    rgba = np.zeros((1, 2, 2, 4), dtype=np.uint8)
    np.testing.assert_array_equal(load_images(from_arrays(rgba), size=(2, 2)), 128)
    with pytest.raises(ValueError, match="uint8"):
        from_arrays(np.zeros((1, 2, 2), dtype=np.float32))


def test_stimulus_set_checks_descriptors():
    with pytest.raises(ValueError, match="differ in length"):
        StimulusSet(ids=("a", "b"), labels=("x",), groups=("", ""), sources=("s", "s"), licences=("", ""))
    with pytest.raises(ValueError, match="unique"):
        StimulusSet(ids=("a", "a"), labels=("", ""), groups=("", ""), sources=("s", "s"), licences=("", ""))
    with pytest.raises(ValueError, match="choose from"):
        StimulusSet(ids=("a",), labels=("",), groups=("animal",), sources=("s",), licences=("",))


def test_subset_keeps_descriptors_and_pixels(rng):
    pixels = rng.integers(0, 255, (3, 4, 4, 3), dtype=np.uint8)
    stimuli = from_arrays(pixels, labels=["x", "y", "z"]).subset([2, 0])
    assert stimuli.ids == ("array[2]", "array[0]") and stimuli.labels == ("z", "x") and len(stimuli) == 2
    np.testing.assert_array_equal(load_images(stimuli, size=(4, 4)), pixels[[2, 0]])


def _make_folder(root: Path) -> Path:
    for relative, colour in {"cats/a.png": 10, "cats/b.jpg": 60, "dogs/c.webp": 120, "top.png": 200}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (6, 6), (colour,) * 3).save(root / relative, quality=100, lossless=True)
    (root / "dogs" / "bad.jpg").write_text("not an image")
    (root / "cats" / "empty.png").write_bytes(b"")
    (root / "cats" / "notes.txt").write_text("ignored")
    (root / "cats" / ".hidden.png").write_bytes(b"ignored")
    return root


def test_from_folder_labels_from_subfolders(tmp_path):
    stimuli = from_folder(_make_folder(tmp_path))
    assert stimuli.ids == ("top.png", "cats/a.png", "cats/b.jpg", "cats/empty.png", "dogs/bad.jpg", "dogs/c.webp")
    assert stimuli.labels == ("", "cats", "cats", "cats", "dogs", "dogs")


def test_bad_files_are_skipped_and_reported(tmp_path):
    stimuli = from_folder(_make_folder(tmp_path))
    images, report = load_images_with_report(stimuli, size=(6, 6))
    assert report.loaded_indices == (0, 1, 2, 5)
    assert [name for name, _ in report.skipped] == ["cats/empty.png", "dogs/bad.jpg"]
    assert "empty file" in report.skipped[0][1] and "not a recognised image" in report.skipped[1][1]
    np.testing.assert_allclose(images[:, 0, 0, 0], [200, 10, 60, 120], atol=2)
    with pytest.raises(StimulusError, match="empty"):
        load_images(stimuli, size=(6, 6))


def test_from_files_checks_existence_and_labels(tmp_path):
    path = _save(Image.new("RGB", (2, 2)), tmp_path / "one.png")
    assert from_files([path], labels=["thing"]).labels == ("thing",)
    with pytest.raises(StimulusError, match="No such image files"):
        from_files([path, tmp_path / "missing.png"])
    with pytest.raises(ValueError, match="labels"):
        from_files([path], labels=["a", "b"])


def test_content_hashes_follow_pixels(tmp_path, rng):
    pixels = rng.integers(0, 255, (2, 5, 5, 3), dtype=np.uint8)
    path = _save(Image.fromarray(pixels[0]), tmp_path / "img.png")
    file_hash = content_hashes(from_files([path]))[0]
    array_hashes = content_hashes(from_arrays(pixels))
    assert file_hash == array_hashes[0] != array_hashes[1]
    changed = pixels[0].copy()
    changed[0, 0, 0] ^= 1
    _save(Image.fromarray(changed), path)
    assert content_hashes(from_files([path]))[0] != file_hash


# --------------------------------------------------------------------------------------- uploads


def _png_bytes(colour=(1, 2, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("filename", "stored"), [
    ("../../etc/passwd.png", "passwd.png"),
    ("C:\\evil\\x.png", "x.png"),
    ("café 猫.png", "café 猫.png"),
    ("..\\..\\.hidden.png", "hidden.png"),
    ("a<b>:c.png", "a_b__c.png"),
])
def test_upload_file_names_are_sanitised(tmp_path, filename, stored):
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    stimuli = from_upload(_png_bytes(), filename, upload_dir=upload_dir)
    assert stimuli.ids == (stored,)
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [f"uploads/{stored}"]
    np.testing.assert_array_equal(load_images(stimuli, size=(4, 4))[0, 0, 0], [1, 2, 3])


def test_upload_limits_and_validation(tmp_path):
    with pytest.raises(StimulusError, match="over the limit of 100 bytes"):
        from_upload(b"x" * 101, "big.png", upload_dir=tmp_path, max_bytes=100)
    with pytest.raises(StimulusError, match="not a recognised image"):
        from_upload(b"GIF89a but really text", "fake.gif", upload_dir=tmp_path)
    with pytest.raises(StimulusError, match=r"upload an image file \(\.bmp, .* or \.webp\)"):
        from_upload(_png_bytes(), "script.sh", upload_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_upload_same_name_new_content_gets_new_file(tmp_path):
    first = from_upload(_png_bytes((1, 1, 1)), "x.png", upload_dir=tmp_path)
    again = from_upload(_png_bytes((1, 1, 1)), "x.png", upload_dir=tmp_path)
    other = from_upload(_png_bytes((9, 9, 9)), "x.png", upload_dir=tmp_path)
    assert first.sources == again.sources and other.ids == ("x-1.png",)


# --------------------------------------------------------------------------------------- video


@pytest.fixture
def clip(tmp_path):
    """2 s at 10 fps, 32 x 32; frame k has brightness 12 k."""
    import imageio.v2 as iio

    path = tmp_path / "clip.mp4"
    with iio.get_writer(path, fps=10, codec="libx264", macro_block_size=16) as writer:
        for k in range(20):
            writer.append_data(np.full((32, 32, 3), 12 * k, dtype=np.uint8))
    return path


@pytest.mark.parametrize(("fps", "frames"), [(2, [0, 5, 10, 15]), (5, list(range(0, 20, 2)))])
def test_video_frames_sampled_in_order(clip, fps, frames):
    stimuli = from_video(clip, fps=fps)
    assert len(stimuli) == len(frames)
    np.testing.assert_allclose(stimuli.frame_times, np.arange(len(frames)) / fps)
    assert stimuli.ids[1] == f"clip.mp4#t={1 / fps:.3f}s"
    brightness = load_images(stimuli, size=(32, 32)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(brightness, 12 * np.array(frames), atol=4)
    reversed_order = load_images(stimuli, indices=[2, 0], size=(8, 8)).mean(axis=(1, 2, 3))
    assert reversed_order[0] > reversed_order[1]


def test_video_errors(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        from_video(tmp_path / "x.mp4", fps=0)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(StimulusError, match=r"bad\.mp4"):
        from_video(bad, fps=1)


# --------------------------------------------------------------------------------------- rcc


def _make_rcc(version: int, files: dict[str, tuple[bytes, int]]) -> bytes:
    """An rcc with root -> "res" -> files; each file is (content, flags) with flags 0 or 1 (zlib)."""
    names, name_offsets = b"", {}
    for name in ["res", *files]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    data, tree = b"", []
    stamp = b"" if version == 1 else struct.pack(">Q", 0)
    tree.append(struct.pack(">IHII", 0, 2, 1, 1) + stamp)
    tree.append(struct.pack(">IHII", name_offsets["res"], 2, len(files), 2) + stamp)
    for name, (content, flags) in files.items():
        blob = struct.pack(">I", len(content)) + zlib.compress(content) if flags & 1 else content
        tree.append(struct.pack(">IHHHI", name_offsets[name], flags, 0, 0, len(data)) + stamp)
        data += struct.pack(">I", len(blob)) + blob
    header_size = 20 if version < 3 else 24
    tree_bytes = b"".join(tree)
    tree_offset, data_offset = header_size, header_size + len(tree_bytes)
    names_offset = data_offset + len(data)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", 1)
    return header + tree_bytes + data + names


@pytest.mark.parametrize("version", [1, 2, 3])
def test_read_rcc_hand_built(tmp_path, version):
    files = {"plain.txt": (b"hello rcc", 0), "packed.bin": (bytes(range(256)) * 8, 1)}
    path = tmp_path / "tiny.rcc"
    path.write_bytes(_make_rcc(version, files))
    assert read_rcc(path) == {"/res/plain.txt": b"hello rcc", "/res/packed.bin": bytes(range(256)) * 8}


def test_read_rcc_rejects_bad_files(tmp_path):
    path = tmp_path / "bad.rcc"
    path.write_bytes(b"PK\x03\x04 zip, not rcc" * 2)
    with pytest.raises(RccError, match="qres"):
        read_rcc(path)
    path.write_bytes(_make_rcc(2, {"a": (b"abc", 0)})[:40])
    with pytest.raises(RccError, match=r"bad\.rcc"):
        read_rcc(path)


def test_read_rcc_zstd_entry_needs_zstandard(tmp_path):
    if importlib.util.find_spec("zstandard") is not None:
        pytest.skip("zstandard is installed; the unsupported path is not reachable")
    raw = bytearray(_make_rcc(2, {"z.bin": (b"zzz", 0)}))
    entry = 20 + 2 * 22  # the file entry, after the root and "res" entries
    raw[entry + 4:entry + 6] = struct.pack(">H", 4)
    path = tmp_path / "z.rcc"
    path.write_bytes(bytes(raw))
    with pytest.raises(RccError, match="zstandard"):
        read_rcc(path)


@pytest.mark.skipif(not REAL_RCC.is_file(), reason="Debian gcompris-qt-data is not installed")
def test_read_real_categorization_rcc():
    files = read_rcc(REAL_RCC)
    webp = [p for p in files if p.endswith(".webp")]
    assert len(webp) >= 100
    fish = files["/gcompris/src/activities/categorization/resource/images/fishes/fish1.webp"]
    assert decode_image(fish).ndim == 3
    credits = st_library._gcompris_credits(files)
    assert "Public Domain" in credits["/gcompris/src/activities/categorization/resource/images/fishes/fish1.webp"]


def test_parse_credits_inline_and_listed_files():
    text = ("Copyright: A\nLicense: CC0-1.0\nSource: https://x/1\nFiles:\none.webp\ntwo.webp\n\n"
            "Copyright: B\nSource: https://x/2\nLicense: CC-BY-SA-4.0\nComments: cropping\nFiles: three.webp\n")
    blocks = st_library._parse_credits(text)
    assert [b["files"] for b in blocks] == ["one.webp two.webp", "three.webp"]
    assert blocks[1] == {"copyright": "B", "source": "https://x/2", "license": "CC-BY-SA-4.0",
                         "comments": "cropping", "files": "three.webp"}


# --------------------------------------------------------------------------------------- library


def _fake_source(entries_made: list, colour: int):
    def source(dest: Path, progress) -> list[dict]:
        entries_made.append(colour)
        if progress is not None:
            progress(1, 2, f"half of {colour}")
        Image.new("RGB", (5, 5), (colour,) * 3).save(dest / "ok.png")
        (dest / "broken.png").write_text("nope")
        Image.new("RGB", (5, 5)).save(dest / "nolicence.png")
        return [st_library._entry(f"fake{colour}/ok.png", "ok.png", "tool", "test", "CC0"),
                st_library._entry(f"fake{colour}/broken.png", "broken.png", "tool", "test", "CC0"),
                st_library._entry(f"fake{colour}/nolicence.png", "nolicence.png", "bird", "test", "")]
    return source


def _failing_source(dest: Path, progress) -> list[dict]:
    raise RuntimeError("package not installable")


@pytest.fixture
def fake_sources(monkeypatch):
    calls: list = []
    monkeypatch.setattr(st_library, "LIBRARY_SOURCES", {
        "one": _fake_source(calls, 40), "two": _fake_source(calls, 90), "broken": _failing_source})
    return calls


def test_library_builds_reports_and_is_idempotent(tmp_path, fake_sources):
    root = tmp_path / "library"
    messages = []
    stimuli, report = build_stimulus_library(root, progress=lambda d, t, m: messages.append((d, t, m)))
    assert report["missing"] == {"broken": "RuntimeError: package not installable"}
    assert report["built"] == ["one", "two"] and len(stimuli) == 2 == report["n_images"]
    assert sorted(name for name, _ in report["skipped"]) == [
        "fake40/broken.png", "fake40/nolicence.png", "fake90/broken.png", "fake90/nolicence.png"]
    assert report["counts"] == {"category": {"tool": 2}, "group": {"non-biological": 2}}
    assert stimuli.licences == ("CC0", "CC0") and messages[-1][0] == messages[-1][1] == 3
    fractions = [done / total for done, total, _ in messages]
    assert fractions == sorted(fractions) and (5, 6, "half of 90") in messages  # sorted: broken, one, two
    np.testing.assert_allclose(load_images(stimuli, size=(5, 5))[:, 0, 0, 0], [40, 90])
    assert json.loads((root / "index.json").read_text())["report"] == report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["library"]
    again, report_again = build_stimulus_library(root)
    assert fake_sources == [40, 90] and again == stimuli and report_again == report
    build_stimulus_library(root, sources=["two"])
    assert fake_sources == [40, 90, 90]
    build_stimulus_library(root, sources=["two"], rebuild=True)
    assert fake_sources == [40, 90, 90, 90]


def test_library_interrupted_build_leaves_nothing(tmp_path, fake_sources):
    def progress(done, total, message):
        if message.startswith("library built"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_stimulus_library(tmp_path / "library", sources=["one"], progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_library_unknown_source_lists_choices(tmp_path):
    with pytest.raises(ValueError, match="choose from"):
        build_stimulus_library(tmp_path, sources=["imagenet"])


def test_library_missing_debian_package_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(st_library, "GCOMPRIS_RCC_DIR", tmp_path / "absent")
    stimuli, report = build_stimulus_library(tmp_path / "lib", sources=["gcompris", "skimage"])
    assert "gcompris-qt-data" in report["missing"]["gcompris"]
    assert report["built"] == ["skimage"] and len(stimuli) == len(st.SKIMAGE_IMAGES)
    assert dict(zip(stimuli.ids, stimuli.labels, strict=True))["skimage/chelsea.png"] == "mammal"
    assert all(stimuli.licences)
    assert load_images(stimuli, size=(16, 16)).shape == (len(st.SKIMAGE_IMAGES), 16, 16, 3)


@pytest.mark.slow
def test_real_library_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("VFS_CACHE", str(tmp_path / "cache"))
    stimuli, report = build_stimulus_library(tmp_path / "library")
    print(json.dumps(report, indent=1))
    counts = report["counts"]["category"]
    if "celeba_faces" not in report["missing"]:
        assert counts["face"] == 500
    if "gcompris" not in report["missing"]:
        assert counts["fish"] >= 20 and counts["tool"] >= 30 and counts["building"] >= 60
        assert counts["mammal"] >= 25 and counts["bird"] >= 10
    assert report["built"] and sum(report["counts"]["group"].values()) == len(stimuli)
    assert set(stimuli.labels) <= set(st.LIBRARY_CATEGORIES) and all(stimuli.licences)
    assert len(load_images(stimuli, indices=range(0, len(stimuli), 50), size=(32, 32))) > 0
