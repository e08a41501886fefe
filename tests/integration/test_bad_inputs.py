"""Bad inputs sent to the running app the way the browser sends them: a clear message, the server stays
up, nothing written half-way.

The decoders and loaders behind these pages have their own unit tests (``tests/core/test_stimuli.py``:
truncated JPEG, text named .jpg, 0 bytes, pixel bombs, CMYK/16-bit/palette/alpha, upload names;
``tests/core/test_cortex.py``: NIfTI dimensions, NaN vertices, vertex counts; ``tests/core/test_encoding.py``
and ``test_categories.py``: mismatched sample counts, constant vertices, empty categories). Here the same
inputs go through ``dcc.Upload`` → ``/_dash-update-component`` → the page callback → services → core.
"""

from __future__ import annotations

import http.client
import io
import os
from pathlib import Path
from urllib.parse import urlsplit

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

import app as app_module
from bench.load import CallbackError, DashSession
from core.stimuli import StimulusError, decode_image, from_upload
from dashboard import services
from dashboard.ids import CorticalMaps, VirtualFmri
from tests._internals import alert_texts, internals_in
from tests.core.test_stimuli import _png_claiming


def _image_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _noise(mode="RGB", size=(64, 64)) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def _files_under(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_empty_upload_is_refused_by_its_size_not_by_the_decoder(tmp_path):
    with pytest.raises(StimulusError, match=r"empty\.png.*empty data \(0 bytes\)"):
        from_upload(b"", "empty.png", upload_dir=tmp_path)


def test_pil_bomb_guard_still_applies_when_the_pixel_limit_is_raised(tmp_path):
    """144 M pixels: under ``max_pixels`` here, over PIL's 89 M warning level, which decode_image makes an error."""
    path = _png_claiming(tmp_path / "bomb.png", 12_000, 12_000)
    with pytest.raises(StimulusError, match=r"bomb\.png: refused as a possible decompression bomb"):
        decode_image(path, max_pixels=10**12)


@pytest.mark.parametrize(("filename", "stored"), [("line\nbreak\x07.png", "line_break_.png"),
                                                  ("cafe\u0301.png", "caf\u00e9.png")])
def test_upload_names_lose_control_characters_and_are_nfc(tmp_path, filename, stored):
    stimuli = from_upload(_image_bytes(_noise(), "PNG"), filename, upload_dir=tmp_path)
    assert stimuli.ids == (stored,) and [p.name for p in tmp_path.iterdir()] == [stored]


def test_uploaded_image_appears_only_complete_by_one_rename(tmp_path, monkeypatch):
    renames, replace = [], os.replace

    def recording_replace(source, target):
        renames.append((Path(source).read_bytes(), Path(target).name, Path(target).exists()))
        replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    data = _image_bytes(_noise(), "PNG")
    from_upload(data, "x.png", upload_dir=tmp_path)
    assert renames == [(data, "x.png", False)]


@pytest.fixture(scope="module")
def session(live_app):
    client = DashSession(live_app.url, timeout=300)
    client.open("/virtual-fmri")
    return client


BAD_IMAGES = {
    "truncated.jpg": (lambda tmp: _image_bytes(_noise(), "JPEG")[:400], r"truncated\.jpg.*cannot be decoded"),
    "notes.jpg": (lambda tmp: b"this is a text file, not a picture", r"notes\.jpg.*not a recognised image format"),
    "empty.png": (lambda tmp: b"", r"empty.*0 bytes"),
    "bomb.png": (lambda tmp: _png_claiming(tmp / "bomb.png", 20_000, 20_000).read_bytes(),
                 r"bomb\.png.*(max_pixels|decompression bomb)"),
    "huge.png": (lambda tmp: b"\x89PNG" + bytes(services.MAX_UPLOAD_BYTES), r"huge\.png.*over the limit"),
    "script.sh": (lambda tmp: _image_bytes(_noise(), "PNG"), r"script\.sh.*file type not accepted"),
}


@pytest.mark.parametrize("filename", sorted(BAD_IMAGES))
def test_bad_image_upload_gives_message_and_writes_nothing(live_app, session, tmp_path, filename):
    make, message = BAD_IMAGES[filename]
    before = _files_under(live_app.uploads)
    with pytest.raises(CallbackError, match=message) as error:
        session.upload(VirtualFmri.UPLOAD, filename, make(tmp_path))
    assert internals_in(" ".join(alert_texts(error.value))) == []
    assert live_app.is_up()
    assert _files_under(live_app.uploads) == before


GOOD_IMAGES = {
    "cmyk.jpg": lambda: _image_bytes(_noise("CMYK"), "JPEG"),
    "sixteen-bit.png": lambda: _image_bytes(Image.fromarray(np.full((8, 8), 40_000, np.uint16)), "PNG"),
    "palette.png": lambda: _image_bytes(_noise("P"), "PNG", transparency=0),
    "alpha.png": lambda: _image_bytes(_noise("RGBA"), "PNG"),
    "../../etc/passwd.png": lambda: _image_bytes(_noise("L"), "PNG"),
    "..\\..\\café 猫.png": lambda: _image_bytes(_noise("LA"), "PNG"),
}


@pytest.mark.parametrize("filename", sorted(GOOD_IMAGES))
def test_unusual_images_and_names_are_accepted_inside_the_upload_folder(live_app, session, filename):
    response = session.upload(VirtualFmri.UPLOAD, filename, GOOD_IMAGES[filename]())[0]
    stored = filename.replace("\\", "/").rsplit("/", 1)[-1]
    assert response[VirtualFmri.UPLOAD_STATUS]["children"] == f"Uploaded {stored}."
    new = [p for p in live_app.uploads.rglob("*") if p.name == stored]
    assert len(new) == 1 and new[0].resolve().is_relative_to(live_app.uploads.resolve())
    assert not [p for p in live_app.cache.parent.rglob(stored) if p != new[0]]
    assert live_app.is_up()


def _nifti(array) -> bytes:
    return nib.Nifti1Image(np.asarray(array, np.float32), np.eye(4)).to_bytes()


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


BAD_MAPS = {
    "flat.nii": (lambda: _nifti(np.zeros((4, 4))), "3-D or 4-D"),
    "nan.nii": (lambda: _nifti(np.full((19, 23, 18), np.nan)), "vertices have missing or infinite values"),
    "short.npz": (lambda: _npz(data=np.zeros((2, 100))), "59,412"),
    "nan.npz": (lambda: _npz(data=np.where(np.arange(59_412) < 7, np.nan, 1.0)), "7 of 59,412 vertices have missing"),
    "garbage.npz": (lambda: b"not a zip archive", r"garbage\.npz"),
    "notamap.nii": (lambda: b"plain text, not a volume " * 20, r"Could not read notamap\.nii: it is not a valid NIfTI"),
    "maps.csv": (lambda: b"1,2,3", r"Unknown file type of maps\.csv: use \.dtseries\.nii, "),
}


@pytest.mark.parametrize("filename", sorted(BAD_MAPS))
def test_bad_brain_map_upload_gives_message_and_writes_nothing(live_app, filename):
    make, message = BAD_MAPS[filename]
    client = DashSession(live_app.url, timeout=300)
    client.open("/cortical-maps")
    before = _files_under(live_app.uploads)
    with pytest.raises(CallbackError, match=message) as error:
        client.upload(CorticalMaps.UPLOAD, filename, make(), mime="application/octet-stream")
    assert internals_in(" ".join(alert_texts(error.value))) == []
    assert live_app.is_up()
    assert _files_under(live_app.uploads) == before


def test_request_limit_admits_the_largest_allowed_upload():
    """The server's body limit must not refuse an upload the services accept (base64 adds a third)."""
    assert app_module.MAX_REQUEST_BYTES >= max(services.MAX_UPLOAD_BYTES, 2 * services.MAX_MAP_UPLOAD_BYTES) * 4 // 3 + 2**16
    assert app_module.server.config["MAX_CONTENT_LENGTH"] == app_module.MAX_REQUEST_BYTES


def test_200_mb_upload_is_refused_by_the_size_limit_and_server_stays_up(live_app):
    """A 200 MB file sent as the browser sends it (a base64 data URL in the callback's JSON body)."""
    size = 200 * 10**6 * 4 // 3 + 1000
    host = urlsplit(live_app.url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    connection.putrequest("POST", "/_dash-update-component")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    chunk = b'{"output": "x", "inputs": [{"value": "data:image/png;base64,' + b"A" * 2**20
    sent = 0
    try:  # the server may answer and close before the whole body is sent
        while sent < size:
            connection.send(chunk[: size - sent])
            sent += len(chunk)
            chunk = b"A" * 2**20
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert connection.getresponse().status == 413
    connection.close()
    assert live_app.is_up()
