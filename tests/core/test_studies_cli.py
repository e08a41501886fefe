"""``python -m core study import|list|show|remove`` on small simulated studies."""

from __future__ import annotations

import numpy as np
import pytest

from core.__main__ import main
from core.studies.simulate import write_simulated_study


@pytest.fixture
def folder(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=9, n_repeats=2)
    return tmp_path / "f"


def test_study_import_list_show_remove(folder, capsys):
    assert main(["study", "list"]) == 0
    assert "no study imported yet" in capsys.readouterr().out
    assert main(["study", "import", "--format", "folder", "--path", str(folder), "--name", "mine"]) == 0
    out = capsys.readouterr().out
    assert "study mine: folder, fsaverage5 (20,484 vertices" in out and "9 images, 18 presentations" in out
    assert main(["study", "list"]) == 0
    assert capsys.readouterr().out.strip() == "mine (folder, fsaverage5, 9 stimuli, 20,484 vertices)"
    assert main(["study", "show", "mine"]) == 0
    out = capsys.readouterr().out
    assert "noise ceiling: from repeats (2 sessions)" in out and "images: all 9 as imported" in out
    (folder / "images" / "face" / "face-000.png").unlink()
    assert main(["study", "show", "mine"]) == 1
    assert "images: 1 of 9 missing or changed:\n  images/face/face-000.png: missing" in capsys.readouterr().out
    assert main(["study", "remove", "--name", "mine"]) == 0
    assert main(["study", "list"]) == 0
    assert "no study imported yet" in capsys.readouterr().out


def test_study_errors_exit_with_their_message(folder, capsys):
    with pytest.raises(SystemExit, match=r"error: The study name 'a/b' cannot be used"):
        main(["study", "import", "--format", "folder", "--path", str(folder), "--name", "a/b"])
    np.save(folder / "responses.npy", np.zeros((17, 20_484), np.float32))
    with pytest.raises(SystemExit, match=r"error: f/responses.npy has 17 rows but f/stimuli.tsv lists 18"):
        main(["study", "import", "--format", "folder", "--path", str(folder), "--name", "ok"])
    with pytest.raises(SystemExit, match=r"error: There is no study named 'nope'"):
        main(["study", "show", "nope"])
    with pytest.raises(SystemExit, match=r"error: There is no study named 'nope' to remove"):
        main(["study", "remove", "--name", "nope"])


def test_core_help_lists_the_study_verb(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "study" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["study", "import", "--help"])
    assert "algonauts2023" in capsys.readouterr().out
