"""Tests for core.cortex: surfaces, adjacency, smoothing, ROI table, loaders and exporters."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from core import cortex
from core.cortex import surfaces
from core.errors import UserError

N_FSLR = 59_412
N_FS5 = 20_484


def _mni_volume(shape):
    """Volume of 10 mm voxels that covers the MNI brain; value 3 everywhere."""
    affine = np.diag([10.0, 10.0, 10.0, 1.0])
    affine[:3, 3] = [-90, -130, -80]
    return nib.Nifti1Image(np.full(shape, 3.0, np.float32), affine)


def test_fslr32k_has_59412_grayordinates():
    surface = cortex.load_fslr32k("inflated")
    assert len(surface.left.vertex_index) == 29_696
    assert len(surface.right.vertex_index) == 29_716
    assert surface.n_vertices == N_FSLR == cortex.N_VERTICES["fsLR32k"]
    assert surface.left.vertices.shape == (32_492, 3)
    assert surface.left.vertices.dtype == np.float32
    assert surface.left.faces.shape == (64_980, 3)
    assert len(np.unique(surface.left.vertex_index)) == 29_696
    assert surface.sulc.shape == (N_FSLR,)
    assert np.isfinite(surface.sulc).all()


@pytest.mark.parametrize("name", sorted(cortex.FSLR_SURFACES))
def test_every_fslr_surface_loads_and_is_cached(name):
    surface = cortex.load_fslr32k(name)
    assert surface is cortex.load_fslr32k(name)
    assert surface.right.faces.max() < len(surface.right.vertices)
    with pytest.raises(ValueError, match="read-only"):
        surface.left.vertices[0, 0] = 1.0


def test_flat_surface_is_planar_and_has_its_cuts():
    flat = cortex.load_fslr32k("flat")
    assert np.all(flat.left.vertices[:, 2] == 0)
    # cut faces are already dropped from the flat file
    assert len(flat.left.faces) < len(cortex.load_fslr32k("inflated").left.faces)


def test_unknown_surface_lists_choices():
    with pytest.raises(ValueError, match="choose from .*inflated"):
        cortex.load_fslr32k("pial")
    with pytest.raises(ValueError, match="choose from"):
        cortex.load_fsaverage5("midthickness")


def test_fsaverage5_surface():
    surface = cortex.load_fsaverage5("inflated")
    assert surface.n_vertices == N_FS5
    assert surface.left.vertices.shape == (10_242, 3)
    assert surface.left.faces.shape == (20_480, 3)


def test_to_plain_layout():
    plain = cortex.load_fslr32k("flat").to_plain()
    assert set(plain) == {"left", "right"}
    assert set(plain["left"]) == {"vertices", "faces", "vertex_index"}


@pytest.mark.parametrize("space", sorted(cortex.N_VERTICES))
def test_adjacency_symmetric_without_self_loops(space):
    adj = cortex.cortical_adjacency(space)
    n = cortex.N_VERTICES[space]
    assert adj.shape == (n, n)
    assert abs(adj - adj.T).sum() == 0
    assert adj.diagonal().sum() == 0
    degree = np.asarray(adj.sum(axis=1)).ravel()
    assert 5 <= np.median(degree) <= 7  # triangle meshes: about 6 neighbours


def test_fslr_adjacency_equals_mesh_edges():
    surface = cortex.load_fslr32k("midthickness")
    adj = cortex.cortical_adjacency()
    for hemi, start in ((surface.left, 0), (surface.right, 29_696)):
        index = hemi.vertex_index
        mesh = surfaces._adjacency_from_faces(hemi.faces, len(hemi.vertices))
        expected = mesh[index][:, index]
        block = adj[start : start + len(index), start : start + len(index)]
        assert abs(block - expected).sum() == 0
    assert adj[:29_696, 29_696:].nnz == 0


def test_adjacency_is_a_copy():
    adj = cortex.cortical_adjacency()
    adj.data[:] = 5
    assert cortex.cortical_adjacency().data.max() == 1


def test_smoothing_preserves_constants():
    out = cortex.smooth_on_surface(np.full((2, N_FSLR), 2.5), n_iter=4)
    assert out.shape == (2, N_FSLR)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 2.5, rtol=1e-6)


def test_smoothing_known_answer_on_path_graph():
    # path 0-1-2: vertex 1 averages all three, ends average with their one neighbour
    adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float))
    out = cortex.smooth_on_surface(np.array([3.0, 0.0, 0.0]), n_iter=1, adjacency=adj)
    np.testing.assert_allclose(out, [1.5, 1.0, 0.0])
    np.testing.assert_array_equal(
        cortex.smooth_on_surface([3.0, 0.0, 0.0], n_iter=0, adjacency=adj), [3, 0, 0]
    )


def test_smoothing_reduces_variance_and_keeps_mean(rng):
    noise = rng.standard_normal(N_FS5)
    out = cortex.smooth_on_surface(noise, n_iter=5)
    assert out.std() < 0.5 * noise.std()
    assert abs(out.mean() - noise.mean()) < 0.05


def test_smoothing_bad_inputs():
    with pytest.raises(ValueError, match="n_iter"):
        cortex.smooth_on_surface(np.zeros(N_FSLR), n_iter=-1)
    with pytest.raises(ValueError, match="pass adjacency"):
        cortex.smooth_on_surface(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        cortex.smooth_on_surface(np.full(N_FSLR, np.nan))


def test_roi_table_has_visual_areas_in_both_hemispheres():
    table = cortex.roi_table()
    assert len(table) == 360
    by_key = {(r.name, r.hemisphere): r for r in table}
    for name in ("V1", "V2", "V3", "V4", "FFC", "PHA1", "VVC", "PIT", "MT", "MST", "LO1"):
        for hemi in ("L", "R"):
            roi = by_key[(name, hemi)]
            assert 30 <= len(roi.grayordinates) <= 1_000
            in_left = roi.grayordinates < 29_696
            assert in_left.all() if hemi == "L" else not in_left.any()
    # fsLR-32k has ~2 mm vertex spacing: V1 is about 800 vertices per hemisphere
    assert 700 <= len(by_key[("V1", "L")].grayordinates) <= 1_000
    assert by_key[("V1", "L")].stream == "early"
    assert by_key[("FFC", "R")].stream == "ventral"
    assert by_key[("MT", "L")].stream == "lateral"
    assert by_key[("V3A", "L")].stream == "dorsal"
    assert by_key[("4", "L")].stream == "other"


def test_roi_labels_partition_the_cortex():
    labels, names = cortex.roi_labels()
    assert labels.shape == (N_FSLR,)
    assert names[0] == "" and names[1] == "L_V1" and len(names) == 361
    table = cortex.roi_table()
    sizes = np.bincount(labels, minlength=361)
    assert sizes.sum() == N_FSLR
    for roi in table:
        assert names[roi.label] == f"{roi.hemisphere}_{roi.name}"
        assert len(roi.grayordinates) == sizes[roi.label]
        assert np.all(labels[roi.grayordinates] == roi.label)


def test_roi_indices():
    both = cortex.roi_indices("V1")
    left = cortex.roi_indices("V1", "L")
    right = cortex.roi_indices("V1", hemisphere="R")
    np.testing.assert_array_equal(both, np.concatenate([left, right]))
    with pytest.raises(ValueError, match="choose from"):
        cortex.roi_indices("V9")
    with pytest.raises(ValueError, match="choose from"):
        cortex.roi_indices("V1", "left")


def test_every_roi_stream_area_exists():
    names = {r.name for r in cortex.roi_table()}
    for stream, areas in cortex.ROI_STREAMS.items():
        assert set(areas) <= names, stream


# ---------------------------------------------------------------- loaders and exporters


def test_cifti_round_trip(tmp_path, rng):
    values = rng.standard_normal((2, N_FSLR)).astype(np.float32)
    path = cortex.save_cifti_dscalar(values, tmp_path / "maps.dscalar.nii", names=["a", "b"])
    np.testing.assert_array_equal(cortex.load_brain_data(path), values)
    axis = nib.load(path).header.get_axis(0)
    assert list(axis.name) == ["a", "b"]


def test_cifti_dtseries_with_full_mesh_and_subcortex(tmp_path, rng):
    # CIFTI cortex that includes the medial wall plus a subcortical voxel model
    n_mesh = 32_492
    models = (
        nib.cifti2.BrainModelAxis.from_surface(np.arange(n_mesh), n_mesh, "CortexLeft")
        + nib.cifti2.BrainModelAxis.from_surface(np.arange(n_mesh), n_mesh, "CortexRight")
        + nib.cifti2.BrainModelAxis.from_mask(np.ones((1, 1, 1), bool), name="thalamus_left")
    )
    data = rng.standard_normal((3, 2 * n_mesh + 1)).astype(np.float32)
    series = nib.cifti2.SeriesAxis(start=0, step=1.5, size=3)
    path = tmp_path / "run.dtseries.nii"
    nib.save(nib.cifti2.Cifti2Image(data, header=(series, models)), path)
    left, right = cortex.load_fslr32k().left.vertex_index, cortex.load_fslr32k().right.vertex_index
    expected = np.concatenate([data[:, left], data[:, n_mesh + right]], axis=1)
    np.testing.assert_array_equal(cortex.load_brain_data(path), expected)


@pytest.mark.parametrize("n_vertices", [N_FSLR, N_FS5])
def test_exports_round_trip_on_both_spaces(tmp_path, n_vertices):
    # known answer: map i holds (i + 1) * vertex number, so any shuffled, dropped or swapped vertex shows
    values = np.outer([1.0, 2.0], np.arange(n_vertices)).astype(np.float32)
    n_mesh = 32_492 if n_vertices == N_FSLR else 10_242
    cifti = cortex.save_cifti_dscalar(values, tmp_path / "maps.dscalar.nii", names=["a", "b"])
    models = nib.load(cifti).header.get_axis(1)
    assert models.nvertices == {"CIFTI_STRUCTURE_CORTEX_LEFT": n_mesh, "CIFTI_STRUCTURE_CORTEX_RIGHT": n_mesh}
    np.testing.assert_array_equal(cortex.load_brain_data(cifti), values)
    left, right = cortex.save_gifti(values[1], tmp_path / "map")
    assert nib.load(right).agg_data().shape == (n_mesh,)
    assert nib.load(left).meta["AnatomicalStructurePrimary"] == "CortexLeft"
    np.testing.assert_array_equal(cortex.load_brain_data(left, path_right=right), values[1:])


def test_fsaverage5_cifti_puts_vertex_v_of_each_hemisphere_in_place(tmp_path):
    values = np.zeros(N_FS5, np.float32)
    values[[0, 10_241, 10_242, N_FS5 - 1]] = [1, 2, 3, 4]
    left, right = cortex.save_gifti(values, tmp_path / "fs5")
    assert nib.load(left).agg_data()[[0, 10_241]].tolist() == [1, 2]
    assert nib.load(right).agg_data()[[0, 10_241]].tolist() == [3, 4]
    data = nib.load(cortex.save_cifti_dscalar(values, tmp_path / "fs5.dscalar.nii")).get_fdata()
    assert data[0, [0, 10_241, 10_242, N_FS5 - 1]].tolist() == [1, 2, 3, 4]


def test_cifti_with_hemispheres_on_different_meshes(tmp_path):
    models = nib.cifti2.BrainModelAxis.from_surface(
        np.arange(10_242), 10_242, "CortexLeft"
    ) + nib.cifti2.BrainModelAxis.from_surface(np.arange(32_492), 32_492, "CortexRight")
    path = tmp_path / "mixed.dscalar.nii"
    data = np.zeros((1, 10_242 + 32_492), np.float32)
    nib.save(nib.cifti2.Cifti2Image(data, header=(nib.cifti2.ScalarAxis(["x"]), models)), path)
    with pytest.raises(ValueError, match="left cortex is on the fsaverage5 mesh, the right one on fsLR32k"):
        cortex.load_brain_data(path)


def test_cifti_wrong_mesh(tmp_path):
    models = nib.cifti2.BrainModelAxis.from_surface(
        np.arange(10), 10, "CortexLeft"
    ) + nib.cifti2.BrainModelAxis.from_surface(np.arange(10), 10, "CortexRight")
    path = tmp_path / "small.dscalar.nii"
    nib.save(
        nib.cifti2.Cifti2Image(np.zeros((1, 20), np.float32), header=(nib.cifti2.ScalarAxis(["x"]), models)),
        path,
    )
    with pytest.raises(ValueError, match="expected fsLR-32k"):
        cortex.load_brain_data(path)


def test_gifti_round_trip(tmp_path, rng):
    values = rng.standard_normal((3, N_FSLR)).astype(np.float32)
    left, right = cortex.save_gifti(values, tmp_path / "sub")
    assert left.name == "sub.L.func.gii" and right.name == "sub.R.func.gii"
    on_mesh = nib.load(left).agg_data()
    assert len(on_mesh) == 3 and on_mesh[0].shape == (32_492,)
    medial_wall = np.setdiff1d(np.arange(32_492), cortex.load_fslr32k().left.vertex_index)
    assert np.all(on_mesh[0][medial_wall] == 0)
    np.testing.assert_array_equal(cortex.load_brain_data(left, path_right=right), values)


def test_gifti_fsaverage5(tmp_path, rng):
    values = rng.standard_normal((2, 10_242)).astype(np.float32)
    paths = []
    for hemi, part in (("L", values), ("R", -values)):
        img = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(row) for row in part])
        paths.append(tmp_path / f"x.{hemi}.shape.gii")
        nib.save(img, paths[-1])
    out = cortex.load_brain_data(paths[0], path_right=paths[1])
    np.testing.assert_array_equal(out, np.concatenate([values, -values], axis=1))


def test_gifti_needs_right_hemisphere(tmp_path, rng):
    left, _ = cortex.save_gifti(rng.standard_normal(N_FSLR), tmp_path / "one")
    with pytest.raises(ValueError, match="path_right"):
        cortex.load_brain_data(left)


def test_npz_loader(tmp_path, rng):
    values = rng.standard_normal((2, N_FS5)).astype(np.float32)
    np.savez(tmp_path / "single.npz", values)
    np.savez(tmp_path / "named.npz", data=values, other=np.zeros(3))
    np.savez(tmp_path / "transposed.npz", betas=values.T.astype(np.float64))
    np.testing.assert_array_equal(cortex.load_brain_data(tmp_path / "single.npz"), values)
    np.testing.assert_array_equal(cortex.load_brain_data(tmp_path / "named.npz"), values)
    np.testing.assert_array_equal(cortex.load_brain_data(tmp_path / "transposed.npz"), values)


def test_npz_never_unpickles(tmp_path):
    np.savez(tmp_path / "obj.npz", data=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):
        cortex.load_brain_data(tmp_path / "obj.npz")


def test_npz_ambiguous_arrays(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, N_FS5)), b=np.zeros((3, N_FS5)))
    with pytest.raises(UserError, match=r"holds 2 arrays \(a and b\); store one numeric array"):
        cortex.load_brain_data(tmp_path / "two.npz")
    assert cortex.load_brain_data(tmp_path / "two.npz", variable="b").shape == (3, N_FS5)
    with pytest.raises(ValueError, match="choose from"):
        cortex.load_brain_data(tmp_path / "two.npz", variable="c")


def test_mat_loader_v5_and_v73(tmp_path, rng):
    values = rng.standard_normal((2, N_FS5)).astype(np.float32)
    scipy.io.savemat(tmp_path / "v5.mat", {"betas": values, "tr": 1.5, "name": "subj"})
    np.testing.assert_array_equal(cortex.load_brain_data(tmp_path / "v5.mat"), values)
    # MATLAB v7.3 = HDF5 with column-major storage: h5py sees the transpose
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        f["betas"] = values.T
        f["tr"] = np.array([[1.5]])
    np.testing.assert_array_equal(cortex.load_brain_data(tmp_path / "v73.mat"), values)


def test_nifti_volume_goes_to_fsaverage5(tmp_path):
    path = tmp_path / "vol.nii.gz"
    nib.save(_mni_volume((19, 23, 18, 2)), path)
    out = cortex.load_brain_data(path)
    assert out.shape == (2, N_FS5)
    np.testing.assert_allclose(out, 3.0, rtol=1e-6)


def test_nifti_wrong_dims(tmp_path):
    path = tmp_path / "flat.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4), np.float32), np.eye(4)), path)
    with pytest.raises(ValueError, match="3-D or 4-D"):
        cortex.load_brain_data(path)


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
def test_nifti_outside_the_brain_reports_nan(tmp_path):
    path = tmp_path / "tiny.nii"
    nib.save(_mni_volume((3, 3, 3)), path)
    with pytest.raises(ValueError, match="20,484 of 20,484 vertices have missing or infinite values"):
        cortex.load_brain_data(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "maps.csv"
    path.write_text("1,2\n")
    with pytest.raises(UserError, match=r"Unknown file type of maps\.csv: use \.dtseries\.nii, \.dscalar\.nii, .* or \.nii$"):
        cortex.load_brain_data(path)


def test_wrong_number_of_vertices(tmp_path):
    np.savez(tmp_path / "short.npz", data=np.zeros((2, 100)))
    with pytest.raises(ValueError, match="59,412 .*20,484"):
        cortex.load_brain_data(tmp_path / "short.npz")


def test_nan_vertices_are_counted(tmp_path):
    data = np.zeros((2, N_FSLR))
    data[0, :5] = np.nan
    data[1, 3:7] = np.nan
    np.savez(tmp_path / "nan.npz", data=data)
    with pytest.raises(ValueError, match="7 of 59,412 vertices have missing or infinite values"):
        cortex.load_brain_data(tmp_path / "nan.npz")


@pytest.mark.parametrize("name", ["bad.dscalar.nii", "bad.func.gii", "bad.npz", "bad.mat", "bad.nii.gz"])
def test_corrupt_file_names_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a brain image" * 10)
    kwargs = {"path_right": path} if name.endswith(".gii") else {}
    with pytest.raises(UserError, match=f"Could not read {name}: it is not a valid ") as error:
        cortex.load_brain_data(path, **kwargs)
    assert str(tmp_path) not in str(error.value) and "Error" not in str(error.value)


def test_missing_file_and_misplaced_options(tmp_path):
    with pytest.raises(ValueError, match="No such file"):
        cortex.load_brain_data(tmp_path / "absent.npz")
    np.savez(tmp_path / "x.npz", data=np.zeros(N_FS5))
    with pytest.raises(ValueError, match="path_right is only used for GIFTI"):
        cortex.load_brain_data(tmp_path / "x.npz", path_right=tmp_path / "x.npz")


def test_exporters_reject_wrong_shapes(tmp_path):
    with pytest.raises(ValueError, match="59412.*20484"):
        cortex.save_gifti(np.zeros(1000), tmp_path / "x")
    with pytest.raises(ValueError, match="59412"):
        cortex.save_cifti_dscalar(np.zeros((2, 3, N_FS5)), tmp_path / "x.dscalar.nii")
    with pytest.raises(ValueError, match="dscalar.nii"):
        cortex.save_cifti_dscalar(np.zeros(N_FSLR), tmp_path / "x.nii")
    with pytest.raises(ValueError, match="2 names for 1 maps"):
        cortex.save_cifti_dscalar(np.zeros(N_FSLR), tmp_path / "x.dscalar.nii", names=["a", "b"])


def test_cortical_map_carries_its_space_and_refuses_a_wrong_length():
    values = np.arange(N_FS5, dtype=np.float64)
    shown = cortex.CorticalMap(values, "fsaverage5", "rank", "a.u.")
    values[0] = -1  # the map holds its own read-only float32 copy
    assert shown.values.dtype == np.float32 and shown.values[0] == 0 and not shown.values.flags.writeable
    assert (shown.space, shown.name, shown.units) == ("fsaverage5", "rank", "a.u.")
    with pytest.raises(UserError, match=r"Map 'rank' has 20,484 values .*a fsLR32k map has 59,412"):
        cortex.CorticalMap(values, "fsLR32k", "rank")
    with pytest.raises(UserError, match="Unknown cortical space 'fsLR'; choose from fsLR32k or fsaverage5"):
        cortex.CorticalMap(values, "fsLR")
    assert [cortex.space_of_vertices(n) for n in (N_FSLR, N_FS5)] == ["fsLR32k", "fsaverage5"]
    with pytest.raises(UserError, match=r"1,000 values fit no cortical space; expected 59,412 \(fsLR32k\)"):
        cortex.space_of_vertices(1000)
