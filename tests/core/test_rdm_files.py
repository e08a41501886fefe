"""core.rdm_files: every format written by scipy / numpy / h5py / rsatoolbox / csv and read back; every bad file
gives its message (naming the file and variable, never the folder)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import scipy.io
from scipy.spatial.distance import pdist, squareform

from core.errors import UserError
from core.rdm_files import load_brain_rdms, read_patterns, read_rdms, split_file_spec
from core.rsa import RDM, compute_rdm, save_rdm

N = 6


@pytest.fixture
def patterns(rng):
    """(N, 10) patterns and their correlation-distance matrix (N, N)."""
    x = rng.standard_normal((N, 10))
    return x, squareform(pdist(x, "correlation"))


def _condensed(matrix):
    return squareform(matrix, checks=False)


# ----------------------------------------------------------------------------------------- formats


def test_mat_square_matrix_reads_as_one_rdm_named_by_the_file(tmp_path, patterns):
    _, d = patterns
    scipy.io.savemat(tmp_path / "hIT.mat", {"rdm": d})
    rdms = read_rdms(tmp_path / "hIT.mat")
    assert list(rdms) == ["hIT"]
    np.testing.assert_allclose(rdms["hIT"].dissimilarities[0], _condensed(d))
    assert rdms["hIT"].descriptors["source"] == "hIT.mat"


def test_mat_stack_in_matlab_and_numpy_layouts_is_one_region_with_subjects(tmp_path, patterns):
    _, d = patterns
    stack = np.stack([d, 2 * d, 3 * d])
    scipy.io.savemat(tmp_path / "matlab.mat", {"RDMs": stack.transpose(1, 2, 0)})  # n × n × k
    scipy.io.savemat(tmp_path / "numpy.mat", {"RDMs": stack})  # k × n × n
    for name in ("matlab", "numpy"):
        rdm = read_rdms(tmp_path / f"{name}.mat")[name]
        assert rdm.n_rdms == 3
        np.testing.assert_allclose(rdm.dissimilarities, [_condensed(m) for m in stack])


def test_mat_stack_of_n_rdms_over_n_conditions_follows_symmetry(tmp_path, patterns):
    _, d = patterns
    stack = np.stack([d * (k + 1) for k in range(N)])  # k == n: the symmetric slices decide the layout
    scipy.io.savemat(tmp_path / "numpy.mat", {"x": stack})
    np.testing.assert_allclose(read_rdms(tmp_path / "numpy.mat")["numpy"].dissimilarities,
                               [_condensed(m) for m in stack])


def test_mat_condensed_row_and_column_vectors(tmp_path, patterns):
    _, d = patterns
    v = _condensed(d)
    scipy.io.savemat(tmp_path / "v.mat", {"row": v[None], "col": v[:, None]})
    rdms = read_rdms(tmp_path / "v.mat")
    assert set(rdms) == {"row", "col"}
    for rdm in rdms.values():
        np.testing.assert_allclose(rdm.dissimilarities[0], v)


def _rsa_toolbox_struct(rdms, names=None):
    dtype = [("RDM", "O"), ("name", "O")] if names else [("RDM", "O")]
    record = np.zeros((1, len(rdms)), dtype=dtype)
    for i, rdm in enumerate(rdms):
        record[0, i]["RDM"] = rdm
        if names:
            record[0, i]["name"] = names[i]
    return record


def test_mat_rsa_toolbox_struct_array_names_and_groups(tmp_path, patterns):
    _, d = patterns
    struct = _rsa_toolbox_struct([d, 2 * d, 3 * d], names=["hIT | S1", "EVC", "hIT | S1"])
    scipy.io.savemat(tmp_path / "RDMs.mat", {"RDMs": struct, "note": "made by hand"})
    rdms = read_rdms(tmp_path / "RDMs.mat")
    assert list(rdms) == ["hIT | S1", "EVC"]
    assert rdms["hIT | S1"].n_rdms == 2  # same name: stacked as subjects
    np.testing.assert_allclose(rdms["EVC"].dissimilarities[0], _condensed(2 * d))


def test_mat_struct_without_name_field_and_condensed_elements(tmp_path, patterns):
    _, d = patterns
    scipy.io.savemat(tmp_path / "s.mat", {"RDMs": _rsa_toolbox_struct([_condensed(d)[None], d])})
    rdms = read_rdms(tmp_path / "s.mat")
    assert list(rdms) == ["RDMs(1)", "RDMs(2)"]


def test_mat_variable_is_picked_with_a_colon(tmp_path, patterns):
    _, d = patterns
    scipy.io.savemat(tmp_path / "two.mat", {"a": d, "b": 2 * d})
    assert list(read_rdms(f"{tmp_path / 'two.mat'}:b")) == ["b"]
    with pytest.raises(UserError, match=r"two.mat has no variable 'c'; it holds a and b"):
        read_rdms(f"{tmp_path / 'two.mat'}:c")


def test_split_file_spec(tmp_path):
    assert split_file_spec("x/rdms.mat:hIT") == (tmp_path.__class__("x/rdms.mat"), "hIT")
    assert split_file_spec("x/rdms.mat") == (tmp_path.__class__("x/rdms.mat"), None)
    assert split_file_spec("C:notes.txt")[1] is None


def _matlab_v73(path):
    """An HDF5 file laid out as MATLAB's ``save -v7.3`` writes one (512-byte header, MATLAB_class attributes,
    arrays stored in reversed axis order, struct arrays as groups of object references into ``#refs#``)."""
    file = h5py.File(path, "w", userblock_size=512)
    return file


def _v73_char(file, name, text, parent=None):
    target = parent if parent is not None else file
    ds = target.create_dataset(name, data=np.array([ord(c) for c in text], dtype=np.uint16)[:, None])
    ds.attrs["MATLAB_class"] = np.bytes_("char")
    return ds


def test_mat_v73_numeric_and_struct_array(tmp_path, patterns):
    _, d = patterns
    path = tmp_path / "v73.mat"
    with _matlab_v73(path) as f:
        ds = f.create_dataset("stack", data=np.stack([d, 2 * d]))  # MATLAB n × n × 2, stored reversed
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        refs = f.create_group("#refs#")
        rdm_refs, name_refs = [], []
        for i, (matrix, name) in enumerate([(d, "V1"), (3 * d, "FFA")]):
            m = refs.create_dataset(f"r{i}", data=matrix.T)
            m.attrs["MATLAB_class"] = np.bytes_("double")
            rdm_refs.append(m.ref)
            name_refs.append(_v73_char(f, f"n{i}", name, parent=refs).ref)
        group = f.create_group("RDMs")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        group.create_dataset("RDM", data=np.array(rdm_refs, dtype=h5py.ref_dtype)[:, None])
        group.create_dataset("name", data=np.array(name_refs, dtype=h5py.ref_dtype)[:, None])
    with open(path, "r+b") as handle:  # MATLAB's text header in the user block
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    rdms = read_rdms(path)
    assert set(rdms) == {"stack", "V1", "FFA"}
    assert rdms["stack"].n_rdms == 2
    np.testing.assert_allclose(rdms["FFA"].dissimilarities[0], _condensed(3 * d))


def test_npy_npz_and_saved_rdm(tmp_path, patterns):
    _, d = patterns
    np.save(tmp_path / "one.npy", d)
    np.testing.assert_allclose(read_rdms(tmp_path / "one.npy")["one"].dissimilarities[0], _condensed(d))
    np.savez(tmp_path / "many.npz", V1=d, V4=np.stack([d, d]))
    rdms = read_rdms(tmp_path / "many.npz")
    assert list(rdms) == ["V1", "V4"] and rdms["V4"].n_rdms == 2
    labels = tuple(f"img{i}.png" for i in range(N))
    save_rdm(RDM.from_matrix(d, measure="correlation", pattern_labels=labels[::-1]), tmp_path / "saved.npz")
    rdm = read_rdms(tmp_path / "saved.npz", pattern_labels=labels)["saved"]
    assert rdm.measure == "correlation" and rdm.pattern_labels == labels
    np.testing.assert_allclose(rdm.matrix(), d[::-1, ::-1])  # reordered from the file's labels


def test_rsatoolbox_h5_is_read(tmp_path, patterns):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    _, d = patterns
    rdms = rsatoolbox.rdm.RDMs(np.stack([_condensed(d), _condensed(2 * d)]), dissimilarity_measure="correlation",
                               pattern_descriptors={"index": list(range(N))})
    rdms.save(str(tmp_path / "tb.h5"), file_type="hdf5")
    rdm = read_rdms(tmp_path / "tb.h5")["tb"]
    assert rdm.n_rdms == 2 and rdm.measure == "correlation"
    np.testing.assert_allclose(rdm.dissimilarities[1], _condensed(2 * d))


def _write_table(path, matrix, delimiter, header=None, row_names=None):
    lines = []
    if header is not None:
        lines.append(delimiter.join(([""] if row_names else []) + list(header)))
    for i, row in enumerate(matrix):
        lines.append(delimiter.join(([row_names[i]] if row_names else []) + [repr(float(v)) for v in row]))
    path.write_text("\n".join(lines) + "\n")


def test_csv_with_header_reorders_to_the_stimuli_and_tsv_without(tmp_path, patterns):
    _, d = patterns
    ids = tuple(f"stim{i}.jpg" for i in range(N))
    order = [3, 1, 0, 5, 2, 4]
    _write_table(tmp_path / "r.csv", d[np.ix_(order, order)], ",", header=[f"stim{i}" for i in order])
    rdm = read_rdms(tmp_path / "r.csv", pattern_labels=ids)["r"]
    assert rdm.pattern_labels == ids
    np.testing.assert_allclose(rdm.matrix(), d)  # file stems name the stimuli: back in stimulus order
    _write_table(tmp_path / "r.tsv", d, "\t")
    np.testing.assert_allclose(read_rdms(tmp_path / "r.tsv", pattern_labels=ids)["r"].matrix(), d)
    names = [f"c{i}" for i in range(N)]
    _write_table(tmp_path / "both.csv", d, ",", header=names, row_names=names)
    assert read_rdms(tmp_path / "both.csv")["both"].pattern_labels == tuple(names)


def test_csv_naming_some_unknown_conditions_is_refused(tmp_path, patterns):
    _, d = patterns
    _write_table(tmp_path / "r.csv", d, ",", header=["stim0", "stim1", "x", "y", "z", "w"])
    with pytest.raises(UserError, match=r"r.csv names conditions that are not among the stimuli \(x, y, z or w\)"):
        read_rdms(tmp_path / "r.csv", pattern_labels=[f"stim{i}.jpg" for i in range(N)])


# ----------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(("write", "message"), [
    (lambda p, d: np.save(p / "bad.npy", d[:, :-1]), r"bad.npy has shape 6×5; an RDM must be square"),
    (lambda p, d: np.save(p / "bad.npy", d + np.triu(np.ones_like(d), 1)),
     r"bad.npy is not symmetric: the dissimilarity of conditions \d and \d is \S+ one way and \S+ the other"),
    (lambda p, d: np.save(p / "bad.npy", np.where(np.eye(N, k=2) + np.eye(N, k=-2), np.nan, d)),
     r"bad.npy has 4 missing or infinite dissimilarities \(NaN or Inf; the first between conditions 1 and 3"),
    (lambda p, d: np.save(p / "bad.npy", d - 0.5 * (1 - np.eye(N))),
     r"bad.npy has negative dissimilarities \(down to .*\), which the measure 'unknown' cannot produce"),
    (lambda p, d: np.save(p / "bad.npy", 1 - d), r"bad.npy: the diagonal is not zero .* similarity"),
    (lambda p, d: (p / "bad.npy").write_bytes(b""), r"bad.npy is empty \(0 bytes\)"),
    (lambda p, d: np.save(p / "bad.npy", np.array([d, "x"], dtype=object), allow_pickle=True),
     r"bad.npy: it holds pickled Python objects, which are never loaded"),
    (lambda p, d: (p / "bad.npy").write_bytes(pickle.dumps({"rdm": d})), r"bad.npy: it holds pickled Python"),
    (lambda p, d: np.savez(p / "bad.npz", ok=d, obj=np.array([1, None], dtype=object)),
     r"bad.npz:obj: it holds pickled Python objects"),
    (lambda p, d: scipy.io.savemat(p / "bad.mat", {"labels": np.array(["a", "b"], dtype=object), "n": 3.0,
                                                   "X": np.ones((4, 7)), "Y": np.ones((2, 5))}),
     r"bad.mat has no RDM-like variable .*; it holds: labels \(cell/object 1×2\); n \(numeric 1×1\); "
     r"X \(numeric 4×7\); Y \(numeric 2×5\)"),
    (lambda p, d: (p / "bad.mat").write_bytes(b"not a matlab file at all" * 10),
     r"bad.mat could not be read as a MATLAB file"),
    (lambda p, d: (p / "bad.csv").write_text("a,b\n1,x\n"), r"bad.csv: row 1, column 2 holds 'x', not a number"),
    (lambda p, d: (p / "bad.txt").write_text("1"), r"bad.txt: file type .txt is not read; use .csv, .h5"),
])
def test_bad_files_give_their_message(tmp_path, patterns, write, message):
    _, d = patterns
    write(tmp_path, d)
    path = next(tmp_path.iterdir())
    with pytest.raises(UserError, match=message) as info:
        read_rdms(path)
    assert str(tmp_path) not in str(info.value)  # the file's name, never its folder


def test_size_other_than_the_number_of_stimuli(tmp_path, patterns):
    _, d = patterns
    scipy.io.savemat(tmp_path / "r.mat", {"rdm": d})
    with pytest.raises(UserError, match=r"r.mat:rdm is over 6 conditions but 8 stimuli were given"):
        read_rdms(tmp_path / "r.mat", pattern_labels=[str(i) for i in range(8)])


def test_bad_struct_element_names_its_index(tmp_path, patterns):
    _, d = patterns
    scipy.io.savemat(tmp_path / "s.mat", {"RDMs": _rsa_toolbox_struct([d, d[:, :-1]], names=["a", "b"])})
    with pytest.raises(UserError, match=r"s.mat:RDMs\(2\) 'b' has shape 6×5"):
        read_rdms(tmp_path / "s.mat")


def test_negative_dissimilarities_are_allowed_for_crossnobis(tmp_path, patterns):
    _, d = patterns
    np.save(tmp_path / "cv.npy", d - 0.5 * (1 - np.eye(N)))
    rdm = read_rdms(tmp_path / "cv.npy", measure="crossnobis")["cv"]
    assert rdm.dissimilarities.min() < 0 and rdm.measure == "crossnobis"


def test_nan_diagonal_is_accepted(tmp_path, patterns):
    _, d = patterns
    np.save(tmp_path / "r.npy", np.where(np.eye(N, dtype=bool), np.nan, d))
    np.testing.assert_allclose(read_rdms(tmp_path / "r.npy")["r"].dissimilarities[0], _condensed(d))


# ----------------------------------------------------------------------------------------- patterns


def test_patterns_give_the_rdm_of_their_metric(tmp_path, rng):
    x = rng.standard_normal((N, 12, 3))
    scipy.io.savemat(tmp_path / "p.mat", {"V1": x, "FFA": x[:, :5, 0]})
    rdms = read_patterns(tmp_path / "p.mat", metric="correlation")
    np.testing.assert_allclose(rdms["V1"].dissimilarities, compute_rdm(x.mean(axis=2)).dissimilarities)
    np.testing.assert_allclose(rdms["FFA"].dissimilarities, compute_rdm(x[:, :5, 0]).dissimilarities)
    cv = read_patterns(f"{tmp_path / 'p.mat'}:V1", metric="crossnobis")["V1"]
    np.testing.assert_allclose(cv.dissimilarities,
                               compute_rdm(x.transpose(2, 0, 1), metric="crossnobis").dissimilarities)
    np.save(tmp_path / "one.npy", x[:, :, 0])
    assert list(read_patterns(tmp_path / "one.npy", pattern_labels=list("abcdef"))) == ["one"]


@pytest.mark.parametrize(("array", "kwargs", "message"), [
    (np.ones((N, 4, 1)), {"metric": "crossnobis"}, r"p.npy: the metric 'crossnobis' needs at least 2 repeats"),
    (np.full((N, 4), np.nan), {}, r"p.npy has 24 missing or infinite values"),
    (np.ones((N, 4)), {"pattern_labels": list("abc")}, r"p.npy has 6 rows \(stimuli\) but 3 stimuli were given"),
    (np.ones((N, 4)), {}, r"p.npy: correlation distance is undefined for constant patterns"),
])
def test_bad_patterns_give_their_message(tmp_path, array, kwargs, message):
    np.save(tmp_path / "p.npy", array)
    with pytest.raises(UserError, match=message):
        read_patterns(tmp_path / "p.npy", **kwargs)


def test_load_brain_rdms_names_repeats_by_file_and_checks_sizes(tmp_path, patterns):
    _, d = patterns
    np.savez(tmp_path / "a.npz", V1=d, V2=d)
    np.savez(tmp_path / "b.npz", V1=2 * d, V2=d)
    assert list(load_brain_rdms([tmp_path / "a.npz", tmp_path / "b.npz"])) == ["V1", "V2", "b:V1", "b:V2"]
    np.save(tmp_path / "small.npy", d[:4, :4])
    with pytest.raises(UserError, match="over different numbers of conditions"):
        load_brain_rdms([tmp_path / "a.npz", tmp_path / "small.npy"])
    with pytest.raises(UserError, match="No brain RDM file"):
        load_brain_rdms([])
