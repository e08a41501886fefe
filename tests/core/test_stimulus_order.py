"""core.stimulus_order: natural sort of image folders, stimuli.tsv tables, and the exported order."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from core.stimulus_order import natural_key, ordered_stimuli, stimulus_order_table, write_stimulus_order


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(folder / name)


def test_natural_key_orders_numbers_by_value():
    names = ["img10.png", "Img2.png", "img1.png", "b.png", "img2b.png"]
    assert sorted(names, key=natural_key) == ["b.png", "img1.png", "Img2.png", "img2b.png", "img10.png"]


def test_folder_in_natural_order_with_subfolders(tmp_path):
    _images(tmp_path, ["img10.png", "img2.png", "img1.png"])
    _images(tmp_path / "faces", ["f3.png", "f12.png"])
    stimuli = ordered_stimuli(tmp_path)
    assert stimuli.ids == ("faces/f3.png", "faces/f12.png", "img1.png", "img2.png", "img10.png")
    assert stimuli.labels[:2] == ("faces", "faces")


def test_stimuli_tsv_gives_the_order_and_round_trips(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "stimuli.tsv").write_text("file\tlabel\nc.png\tcat\na.png\tdog\nb.png\t\n")
    stimuli = ordered_stimuli(tmp_path)
    assert stimuli.ids == ("c.png", "a.png", "b.png") and stimuli.labels == ("cat", "dog", "")
    table = stimulus_order_table(stimuli)
    assert table.splitlines()[:2] == ["position\tfile\tlabel", "1\tc.png\tcat"]
    write_stimulus_order(stimuli, tmp_path / "order" / "stimuli.tsv")
    (tmp_path / "order" / "stimuli.tsv").replace(tmp_path / "stimuli.tsv")
    assert ordered_stimuli(tmp_path / "stimuli.tsv").ids == stimuli.ids


@pytest.mark.parametrize(("table", "message"), [
    ("name\nc.png\n", r"stimuli.tsv needs a column 'file' .* its columns are name"),
    ("file\n../x.png\n", r"stimuli.tsv names files outside its folder \(../x.png\)"),
    ("file\nmissing.png\na.png\n", r"stimuli.tsv names 1 files that do not exist \(missing.png\)"),
    ("file\na.png\na.png\n", r"stimuli.tsv lists a.png more than once"),
    ("file\n", r"stimuli.tsv lists no files"),
])
def test_bad_stimuli_tsv_gives_its_message(tmp_path, table, message):
    _images(tmp_path, ["a.png"])
    (tmp_path / "stimuli.tsv").write_text(table)
    with pytest.raises(UserError, match=message):
        ordered_stimuli(tmp_path)
