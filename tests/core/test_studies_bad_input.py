"""Bad input to the study importers: each gets a message naming the file and the problem, and nothing is left
in the store (no study, no hidden temporary folder)."""

from __future__ import annotations

import io
import pickle
import shutil
import subprocess
import zipfile

import nibabel as nib
import numpy as np
import pytest

import core.studies.store
from core.errors import UserError
from core.studies import import_study, import_zip, list_studies, resolve_in_allowed_roots, studies_dir
from core.studies.simulate import write_simulated_study


def _store_is_empty() -> bool:
    root = studies_dir()
    return not root.exists() or not any(root.iterdir())


def _refused(format, folder, match, name="s", **kwargs):
    with pytest.raises(UserError, match=match):
        import_study(format, folder, name, **kwargs)
    assert _store_is_empty(), list(studies_dir().iterdir())


@pytest.fixture
def folder(tmp_path):
    """A folder-layout study: 12 images in stimuli/<category>/, responses.npy on fsaverage5."""
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=12)
    return tmp_path / "f"


@pytest.fixture
def subject(tmp_path):
    """An Algonauts 2023 subject folder: 12 images, 100 challenge vertices per hemisphere."""
    write_simulated_study(tmp_path / "subj01", "algonauts2023", n_stimuli=12, n_per_hemisphere=100)
    return tmp_path / "subj01"


# ---------------------------------------------------------------------------------------------- the list


def _spoil_rows(study):
    (study / "stimuli" / "place" / "place-011.png").unlink()


def _spoil_algonauts_rows(study):
    (study / "training_split" / "training_images" / "train-0012_nsd-01011.png").unlink()


def _spoil_values(study):
    rows = np.load(study / "responses.npy")
    rows[:, ::2] = np.nan
    rows[:, 1::2] = 0.0
    np.save(study / "responses.npy", rows)


def _spoil_mask(study):
    np.save(study / "roi_masks" / "rh.all-vertices_fsaverage_space.npy", np.ones(1000, bool))


def _spoil_hemisphere(study):
    (study / "training_split" / "training_fmri" / "rh_training_fmri.npy").unlink()


def _spoil_pickle(study):
    np.save(study / "responses.npy", np.array([{"a": 1}] * 12, dtype=object), allow_pickle=True)


def _spoil_image(study):
    (study / "stimuli" / "face" / "face-001.png").write_bytes(b"not an image")


def _spoil_duplicate(study):
    shutil.copyfile(study / "stimuli" / "face" / "face-000.png", study / "stimuli" / "place" / "place-009.png")


def _take_name(study):
    import_study("folder", study, "s")


def _outside_roots(study, monkeypatch):
    allowed = study.parent / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("VFS_DATA_ROOTS", str(allowed))
    resolve_in_allowed_roots(study)


#: Each bad input of issue 18: (spoil the study, layout, study name, the message expected).
BAD_INPUTS = {
    "rows-not-images": (_spoil_rows, "folder", "s", r"f/responses.npy has 12 rows but f/stimuli holds 11 images; "
                                                   r"the rows must match"),
    "rows-not-images-algonauts": (_spoil_algonauts_rows, "algonauts2023", "s",
                                  r"has 12 rows but subj01/training_split/training_images holds 11 images"),
    "nan-or-constant-vertices-only": (_spoil_values, "folder", "s", r"Every one of the 20,484 vertices of "
                                                                    r"f/responses.npy is NaN, infinite or constant"),
    "mask-of-wrong-length": (_spoil_mask, "algonauts2023", "s", r"subj01/roi_masks/rh.all-vertices_fsaverage_space"
                                                                r".npy has shape \(1000,\); expected \(163,842,\)"),
    "hemisphere-missing": (_spoil_hemisphere, "algonauts2023", "s",
                           r"subj01/training_split/training_fmri/rh_training_fmri.npy is missing"),
    "pickled-array": (_spoil_pickle, "folder", "s", r"f/responses.npy holds pickled Python objects \(an object "
                                                    r"array\), which the studio never loads"),
    "unreadable-image": (_spoil_image, "folder", "s", r"1 of 12 images cannot be read: stimuli/face/face-001.png: "
                                                      r"not a recognised image format"),
    "duplicate-images": (_spoil_duplicate, "folder", "s", r"1 images duplicate another one \(identical pixels\): "
                                                          r"stimuli/face/face-000.png and stimuli/place/place-009.png"),
    "name-with-path-separator": (None, "folder", "../s", r"The study name '../s' cannot be used"),
    "name-already-taken": (_take_name, "folder", "s", r"A study named 's' already exists"),
    "folder-outside-allowed-roots": (_outside_roots, "folder", "s", r"f lies outside the folders the app may import "
                                                                    r"from \(.*allowed\)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_each_bad_input_names_the_file_and_the_problem_and_leaves_nothing(case, folder, subject, monkeypatch):
    spoil, format, name, match = BAD_INPUTS[case]
    study = subject if format == "algonauts2023" else folder
    before = set(list_studies())
    with pytest.raises(UserError, match=match):
        if spoil is not None:
            spoil(*((study, monkeypatch) if spoil is _outside_roots else (study,)))
            before = set(list_studies())
        import_study(format, study, name)
    assert set(list_studies()) == before
    assert not studies_dir().exists() or sorted(p.name for p in studies_dir().iterdir()) == sorted(before)


# ---------------------------------------------------------------------------------------------- rows and values


def test_rows_not_matching_stimuli_tsv(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=6, n_repeats=2)
    lines = (tmp_path / "f" / "stimuli.tsv").read_text().splitlines()
    (tmp_path / "f" / "stimuli.tsv").write_text("\n".join(lines[:-1]) + "\n")
    _refused("folder", tmp_path / "f", r"responses.npy has 12 rows but f/stimuli.tsv lists 11 presentations")


def test_hemispheres_with_different_rows(subject):
    path = subject / "training_split" / "training_fmri" / "rh_training_fmri.npy"
    np.save(path, np.load(path)[:-1])
    _refused("algonauts2023", subject, r"different numbers of rows: .*lh_training_fmri.npy 12, .*rh_training_fmri.npy 11")


def test_volume_that_misses_the_cortex(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-nifti", n_stimuli=6)
    image = nib.load(tmp_path / "f" / "responses.nii.gz")
    affine = image.affine.copy()
    affine[:3, 3] += 1000  # far from MNI's brain
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), affine), tmp_path / "f" / "responses.nii.gz")
    _refused("folder", tmp_path / "f", r"is NaN, infinite or constant.*registered to MNI space")


def test_volume_that_is_not_4d(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-nifti", n_stimuli=6)
    image = nib.load(tmp_path / "f" / "responses.nii.gz")
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[..., 0], image.affine), tmp_path / "f" / "responses.nii.gz")
    _refused("folder", tmp_path / "f", r"f/responses.nii.gz has 3 dimensions .* expected a 4-D volume")


def test_transposed_and_unknown_widths(folder):
    np.save(folder / "responses.npy", np.load(folder / "responses.npy").T.copy())
    _refused("folder", folder, r"has 12 columns; expected one per vertex of .*looks transposed")
    np.save(folder / "responses.npy", np.zeros((12, 1000), np.float32))
    _refused("folder", folder, r"f/responses.npy has 1,000 columns; expected one per vertex of fsLR32k \(59,412\)")


def test_truncated_npy(folder):
    data = (folder / "responses.npy").read_bytes()
    (folder / "responses.npy").write_bytes(data[:len(data) // 2])
    _refused("folder", folder, r"f/responses.npy is truncated")


# ---------------------------------------------------------------------------------------------- pickles


def test_pickled_arrays_are_refused_unread(folder, tmp_path):
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(folder / "responses.npy", np.array([Trap()] * 4, dtype=object), allow_pickle=True)
    _refused("folder", folder, r"f/responses.npy holds pickled Python objects \(an object array\), which the studio")
    (folder / "responses.npy").write_bytes(pickle.dumps(Trap()))
    _refused("folder", folder, r"f/responses.npy holds pickled Python objects, which the studio never loads")
    (folder / "responses.npy").unlink()
    np.savez(folder / "responses.npz", responses=np.array([Trap()], dtype=object))
    _refused("folder", folder, r"f/responses.npz holds pickled Python objects")
    assert not marker.exists()


def test_pickled_algonauts_arrays(subject):
    mask = subject / "roi_masks" / "lh.all-vertices_fsaverage_space.npy"
    np.save(mask, np.array([{"vertices": 1}], dtype=object), allow_pickle=True)
    _refused("algonauts2023", subject, r"subj01/roi_masks/lh.all-vertices_fsaverage_space.npy holds pickled")
    fmri = subject / "training_split" / "training_fmri" / "lh_training_fmri.npy"
    fmri.write_bytes(pickle.dumps([1, 2]))
    _refused("algonauts2023", subject, r"lh_training_fmri.npy holds pickled Python objects")


# ---------------------------------------------------------------------------------------------- masks, hemispheres


def test_fsaverage_mask_selecting_other_vertices_than_the_columns(subject):
    path = subject / "roi_masks" / "lh.all-vertices_fsaverage_space.npy"
    mask = np.load(path)
    mask[np.flatnonzero(mask)[0]] = 0
    np.save(path, mask)
    _refused("algonauts2023", subject, r"selects 99 vertices but .*lh_training_fmri.npy has 100 columns")


def test_roi_mask_of_the_wrong_length(subject, folder):
    np.save(subject / "roi_masks" / "lh.floc-faces_challenge_space.npy", np.zeros(99, np.int64))
    _refused("algonauts2023", subject, r"lh.floc-faces_challenge_space.npy has shape \(99,\); expected 100 values")
    (folder / "rois").mkdir()
    np.save(folder / "rois" / "face.npy", np.zeros(10_242, bool))
    _refused("folder", folder, r"f/rois/face.npy has shape \(10242,\); expected 20,484 values")


def test_roi_ids_missing_from_their_table(subject, folder):
    np.save(subject / "roi_masks" / "rh.floc-faces_challenge_space.npy", np.full(100, 9))
    _refused("algonauts2023", subject, r"rh.floc-faces_challenge_space.npy holds region ids \[9\] that its table")
    (folder / "rois").mkdir()
    np.save(folder / "rois" / "areas.npy", np.ones(20_484, np.int32))
    _refused("folder", folder, r"f/rois/areas.npy holds region ids; add f/rois/areas.tsv")
    (folder / "rois" / "areas.tsv").write_text("2\tV2\n")
    _refused("folder", folder, r"f/rois/areas.npy holds region ids \[1\] that its table does not name")


def test_a_hemisphere_missing(subject, tmp_path):
    (subject / "roi_masks" / "rh.floc-faces_challenge_space.npy").unlink()
    _refused("algonauts2023", subject, r"lh.floc-faces_challenge_space.npy has no rh.floc-faces_challenge_space.npy")
    (subject / "training_split" / "training_fmri" / "rh_training_fmri.npy").unlink()
    _refused("algonauts2023", subject, r"subj01/training_split/training_fmri/rh_training_fmri.npy is missing")
    write_simulated_study(tmp_path / "g", "folder-gifti", n_stimuli=6)
    (tmp_path / "g" / "responses.R.func.gii").unlink()
    _refused("folder", tmp_path / "g", r"g: the right \(responses.R or responses.rh\).func.gii hemisphere file is "
                                       "missing")
    write_simulated_study(tmp_path / "m", "folder-mgh", n_stimuli=6)
    (tmp_path / "m" / "responses.lh.mgh").unlink()
    _refused("folder", tmp_path / "m", r"the left \(responses.L or responses.lh\).mgh hemisphere file is missing")


def test_cifti_without_a_hemisphere(tmp_path):
    write_simulated_study(tmp_path / "c", "folder-dscalar", n_stimuli=6)
    axis = nib.cifti2.BrainModelAxis.from_surface(np.arange(100), 32_492, "CortexLeft")
    image = nib.cifti2.Cifti2Image(np.zeros((6, 100), np.float32), header=(nib.cifti2.ScalarAxis(list("abcdef")), axis))
    nib.save(image, tmp_path / "c" / "responses.dscalar.nii")
    _refused("folder", tmp_path / "c", r"responses.dscalar.nii has no CIFTI_STRUCTURE_CORTEX_RIGHT \(a hemisphere is")


# ---------------------------------------------------------------------------------------------- images


def test_algonauts_image_names(subject):
    images = subject / "training_split" / "training_images"
    shutil.copyfile(images / "train-0001_nsd-01000.png", images / "extra.png")
    _refused("algonauts2023", subject, r"training_images holds files not named like train-.*: extra.png")
    (images / "extra.png").unlink()
    (images / "train-0003_nsd-01002.png").rename(images / "train-0013_nsd-01002.png")
    _refused("algonauts2023", subject, r"training_images: image number 0003 is missing")


# ---------------------------------------------------------------------------------------------- layout


def test_stimuli_folder_and_tsv_both_or_neither(folder):
    (folder / "stimuli.tsv").write_text("file\n")
    _refused("folder", folder, r"f needs exactly one of stimuli/ .* or stimuli.tsv .*; it has both")
    (folder / "stimuli.tsv").unlink()
    shutil.rmtree(folder / "stimuli")
    _refused("folder", folder, r"it has neither")


def test_responses_files_missing_or_several(folder):
    np.savez(folder / "responses.npz", responses=np.zeros((12, 20_484), np.float32))
    _refused("folder", folder, r"f holds several responses files \(responses.npy and responses.npz\); keep exactly one")
    (folder / "responses.npz").unlink()
    (folder / "responses.npy").unlink()
    _refused("folder", folder, r"f has no responses file; add one of responses.npy")


@pytest.mark.parametrize(("text", "match"), [
    ("name\tcategory\na.png\tx\n", r"stimuli.tsv needs a header line with a 'file' column"),
    ("file\n", r"stimuli.tsv lists no stimulus"),
    ("file\nimages/missing.png\n", r"stimuli.tsv line 2: images/missing.png does not exist"),
    ("file\trepetition\nIMG\tonce\n", r"stimuli.tsv line 2: repetition 'once' is not a whole number"),
    ("file\trepetition\nIMG\t0\nIMG\t0\n", r"stimuli.tsv line 3: .* repetition 0 is negative or listed twice"),
    ("file\tcategory\nIMG\tface\nIMG\tplace\n", r"stimuli.tsv line 3: .* has category 'place' here but 'face'"),
])
def test_stimuli_tsv_problems(tmp_path, text, match):
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=3, n_repeats=2)
    (tmp_path / "f" / "stimuli.tsv").write_text(text.replace("IMG", "images/face/face-000.png"))
    _refused("folder", tmp_path / "f", match)


def test_unknown_format_and_missing_folder(folder):
    _refused("nsd", folder, r"Unknown study format 'nsd'; choose from algonauts2023, folder or simulated")
    _refused("folder", folder / "nowhere", r"no such folder")


# ---------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a/b", "../up", "", "with space", ".hidden", "x" * 65, "a\\b", "é"])
def test_study_names_that_could_be_paths_are_refused(folder, name):
    _refused("folder", folder, r"cannot be used: use 1 to 64 letters, digits, '-' or '_'", name=name)


# ---------------------------------------------------------------------------------------------- allowed roots


def test_folders_outside_the_allowed_roots(tmp_path, monkeypatch, folder):
    monkeypatch.delenv("VFS_DATA_ROOTS", raising=False)
    with pytest.raises(UserError, match=r"only from folders named in VFS_DATA_ROOTS, and none is set"):
        resolve_in_allowed_roots(folder)
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    monkeypatch.setenv("VFS_DATA_ROOTS", f"{other / 'x'}:{allowed}")
    shutil.move(folder, allowed / "f")
    assert resolve_in_allowed_roots(allowed / "f") == (allowed / "f").resolve()
    with pytest.raises(UserError, match=r"lies outside the folders the app may import from"):
        resolve_in_allowed_roots(other)
    (allowed / "link").symlink_to(other)
    with pytest.raises(UserError, match=r"lies outside the folders the app may import from"):
        resolve_in_allowed_roots(allowed / "link")
    with pytest.raises(UserError, match="no such folder"):
        resolve_in_allowed_roots(allowed / "absent")
    # files of a study inside the root that lead outside it (links, '..') are refused when importing from the app
    secret = other / "secret.png"
    shutil.copyfile(allowed / "f" / "stimuli" / "face" / "face-000.png", secret)
    (allowed / "f" / "stimuli" / "face" / "face-000.png").unlink()
    (allowed / "f" / "stimuli" / "face" / "face-000.png").symlink_to(secret)
    root = resolve_in_allowed_roots(allowed)
    _refused("folder", resolve_in_allowed_roots(allowed / "f"), r"stimuli/face/face-000.png lies outside the folders",
             within=root)


# ---------------------------------------------------------------------------------------------- zip uploads


def _zip(folder, members=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder is not None:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, f"study/{path.relative_to(folder).as_posix()}")
        for info, data in members or []:
            archive.writestr(info, data)
    return buffer.getvalue()


def test_zip_upload_round_trips_with_copied_images(folder):
    study = import_zip(_zip(folder), "zipped", archive_name="mine.zip")
    assert study.n_stimuli == 12 and study.provenance["images"] == "copied into the study"
    assert study.provenance["source"] == "zip upload mine.zip"
    assert [p.name for p in studies_dir().iterdir()] == ["zipped"]  # the unpacked files are gone
    np.testing.assert_array_equal(study.responses, np.load(folder / "responses.npy"))


def _refused_zip(data, match, **kwargs):
    with pytest.raises(UserError, match=match):
        import_zip(data, "z", archive_name="up.zip", **kwargs)
    assert _store_is_empty()


def test_zip_uploads_that_are_refused(folder):
    _refused_zip(_zip(folder), r"up.zip is 0.\d MiB, over the limit of 0 MiB", max_bytes=1000)
    _refused_zip(b"PK not really a zip", r"up.zip cannot be unpacked: it is not a valid zip file")
    _refused_zip(_zip(folder, [(zipfile.ZipInfo("../evil.txt"), b"x")]),
                 r"the member '../evil.txt' points outside the archive's folder")
    _refused_zip(_zip(folder, [(zipfile.ZipInfo("/etc/evil"), b"x")]), r"'/etc/evil' is an absolute or Windows path")
    _refused_zip(_zip(folder, [(zipfile.ZipInfo("C:\\evil"), b"x")]), r"is an absolute or Windows path")
    link = zipfile.ZipInfo("study/stimuli/face/link.png")
    link.external_attr = 0o120777 << 16
    _refused_zip(_zip(folder, [(link, "/etc/passwd")]), r"study/stimuli/face/link.png is a symbolic link")
    bomb = zipfile.ZipInfo("study/padding.bin")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    _refused_zip(_zip(folder, [(bomb, bytes(50 * 2**20))]), r"study/padding.bin is compressed \d+ times \(a possible "
                                                             r"zip bomb\)")


def test_zip_over_the_unpacked_limit_or_lying_about_sizes(folder):
    _refused_zip(_zip(folder), r"up.zip would unpack to 1 MiB, over the limit of 0 MiB", max_unpacked_bytes=10_000)
    data = bytearray(_zip(None, [(zipfile.ZipInfo("study/big.bin"), bytes(range(256)) * 400)]))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # declared size: 10 bytes
        at = data.index(signature) + offset
        data[at:at + 4] = (10).to_bytes(4, "little")
    _refused_zip(bytes(data), r"up.zip cannot be unpacked: it is not a valid zip file, or it is damaged")


# ---------------------------------------------------------------------------------------------- killed imports


def test_an_interrupted_import_leaves_nothing(folder, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(core.studies.store, "_write_responses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_study("folder", folder, "s")
    assert _store_is_empty()


def test_folders_left_by_a_killed_import_are_removed_by_the_next(folder):
    dead = subprocess.Popen(["true"])
    dead.wait()
    studies_dir().mkdir(parents=True)
    stale = studies_dir() / f".import-old-{dead.pid}-abc123"
    (stale / "half").mkdir(parents=True)
    (stale / "half" / "responses-all.npy").write_bytes(b"x" * 100)
    assert list_studies() == []  # never taken for a study
    import_study("folder", folder, "new")
    assert sorted(p.name for p in studies_dir().iterdir()) == ["new"]
