"""Brain RDMs of a study's regions, and model–brain RSA on a study (``core.model_brain_rsa`` on its images).

A study may hold 10,000 stimuli; an RDM is n × n, so RSA takes at most a chosen number of them
(:func:`select_stimuli`: every category in proportion, evenly spaced in study order within each, so the choice is
the same on every run). For each region (study vertex indices) the RDM is the correlation distance
(1 − Pearson r over the region's vertices) between stimulus patterns, as rsatoolbox's ``calc_rdm(dataset,
method="correlation", descriptor=STIMULUS)``:

``"average"``   one RDM per region from the responses averaged over each stimulus's presentations;
``"sessions"``  one RDM per repeat session (session k: the k-th presentation of each stimulus, stimuli presented
                at least that often), so ``core.model_brain_rsa`` gives r as the mean over the session RDMs and a
                leave-one-session-out noise ceiling.

Responses are read by groups of regions whose patterns fit :data:`PATTERN_BUDGET_BYTES`, float32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import UserError, choices_text
from core.runtime import Progress, report, span

__all__ = ["PATTERN_BUDGET_BYTES", "RDM_SPLITS", "StudyRDMs", "select_stimuli", "session_stimuli",
           "study_brain_rdms", "study_model_brain_rsa"]

#: How the presentations of a stimulus become brain RDMs: split → what the page says.
RDM_SPLITS = {
    "average": "one RDM per region, from the responses averaged over each stimulus's repeats",
    "sessions": "one RDM per repeat session and region (stimuli shown in every session); r is the mean over "
                "sessions and the sessions give a noise ceiling",
}
#: Most bytes of response patterns (and their float64 sums) held at once.
PATTERN_BUDGET_BYTES = 512 * 2**20
#: Bytes per pattern value while averaging: the float32 pattern and its float64 sum.
_BYTES_PER_VALUE = 12


def select_stimuli(categories: Sequence[str], n: int, *, eligible: Sequence[int] | None = None) -> np.ndarray:
    """``n`` stimuli chosen reproducibly: each category in proportion to its size (largest remainders), evenly
    spaced in study order within it.

    Parameters
    ----------
    categories : sequence of str, length n_stimuli
        Category of each stimulus ("" for none; one category = evenly spaced over all).
    n : int
        Stimuli to choose (all when the pool has fewer).
    eligible : sequence of int, optional
        The pool to choose from (default: every stimulus).

    Returns
    -------
    ndarray of shape (min(n, n_pool),), int64
        Stimulus indices, increasing.
    """
    pool = np.arange(len(categories)) if eligible is None else np.unique(np.asarray(eligible, dtype=np.int64))
    if n < 3:
        raise UserError(f"Model–brain RSA needs at least 3 stimuli, got {n}")
    if len(pool) <= n:
        return pool
    labels = np.asarray(categories, dtype=object)[pool]
    names, counts = np.unique(labels, return_counts=True)
    share = n * counts / len(pool)
    quota = np.floor(share).astype(int)
    quota[np.argsort(-(share - quota), kind="stable")[:n - quota.sum()]] += 1
    chosen = []
    for name, count, take in zip(names, counts, quota, strict=True):
        members = pool[labels == name]
        chosen.append(members[(np.arange(take) * count) // take] if take else members[:0])
    return np.sort(np.concatenate(chosen))


def _n_sessions(study) -> int:
    """Repeat sessions of ``study`` (``Study.repeat_sessions``' default: the fewest repeats of a repeated
    stimulus), 0 without repeats."""
    counts = study.repeat_counts
    return int(counts[counts >= 2].min()) if study.has_repeats else 0


def session_stimuli(study) -> np.ndarray:
    """Stimuli shown in every repeat session of ``study`` (``Study.repeat_sessions``), or none (shape (0,))."""
    n = _n_sessions(study)
    return np.flatnonzero(study.repeat_counts >= n) if n else np.zeros(0, np.int64)


@dataclass(frozen=True)
class StudyRDMs:
    """Brain RDMs of a study's regions over chosen stimuli.

    Attributes
    ----------
    stimuli : ndarray of shape (n_stimuli,), int
        Study stimulus indices, in RDM row order.
    stimulus_ids : tuple of str
        Their ids (image paths in the study).
    rdms : dict of str to core.rsa.RDM
        Region → its RDM(s): one (``"average"``) or one per session (``"sessions"``, ``rdm_descriptors``
        ``"session"``), measure ``"correlation"``, pattern labels the stimulus ids.
    split : str
        A key of :data:`RDM_SPLITS`.
    left_out : dict of str to str
        Regions without an RDM and why.
    """

    stimuli: np.ndarray
    stimulus_ids: tuple
    rdms: dict
    split: str
    left_out: dict


def _groups(regions: dict[str, np.ndarray], bytes_per_vertex: int) -> list[list[str]]:
    """Regions packed in order into groups whose vertices' patterns fit the budget (a large region alone)."""
    groups, size = [[]], 0
    for name, vertices in regions.items():
        if groups[-1] and (size + len(vertices)) * bytes_per_vertex > PATTERN_BUDGET_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += len(vertices)
    return groups


def study_brain_rdms(study, regions: Mapping[str, Sequence[int]], stimuli: Sequence[int], *, split: str = "average",
                     progress: Progress | None = None) -> StudyRDMs:
    """Correlation-distance RDMs of each region's stimulus patterns.

    Parameters
    ----------
    study : core.studies.Study
    regions : mapping of str to sequence of int
        Region → study vertex indices (response columns). Regions with fewer than 2 vertices are left out.
    stimuli : sequence of int
        Study stimulus indices (e.g. :func:`select_stimuli`), in RDM row order; with ``"sessions"``, each must be
        shown in every session (:func:`session_stimuli`).
    split : str
        A key of :data:`RDM_SPLITS`.
    progress : callable, optional
        ``progress(done, total, message)`` (``core.runtime.Progress``).

    Returns
    -------
    StudyRDMs
    """
    from core.rsa import RDM, compute_rdm

    if split not in RDM_SPLITS:
        raise UserError(f"Unknown RDM split {split!r}; choose from {choices_text(RDM_SPLITS)}")
    stimuli = np.asarray(stimuli, dtype=np.int64)
    if len(stimuli) < 3 or len(np.unique(stimuli)) != len(stimuli):
        raise UserError(f"Brain RDMs need at least 3 distinct stimuli, got {len(np.unique(stimuli))}")
    if split == "sessions":
        missing = np.setdiff1d(stimuli, session_stimuli(study))
        if len(missing):
            raise UserError(f"Study {study.name}: {len(missing)} of the chosen stimuli (e.g. "
                            f"{study.stimuli[missing[0]].id}) are not shown in every repeat session; choose RDMs of "
                            "the averaged responses or the repeated stimuli only")
    kept, left_out = {}, {}
    for name, vertices in regions.items():
        vertices = np.unique(np.asarray(vertices, dtype=np.int64))
        if len(vertices) and not 0 <= vertices[0] <= vertices[-1] < study.n_vertices:
            raise UserError(f"Region {name!r} names vertices outside the study's {study.n_vertices:,}")
        if len(vertices) < 2:
            left_out[str(name)] = f"{len(vertices)} vertex in the study (a correlation needs 2)"
        else:
            kept[str(name)] = vertices
    if not kept:
        raise UserError("None of the regions has 2 or more vertices in the study")
    ids = tuple(study.stimuli[i].id for i in stimuli)
    n_sessions = _n_sessions(study) if split == "sessions" else 1
    groups = _groups(kept, n_sessions * len(stimuli) * _BYTES_PER_VALUE)
    rdms = {}
    for g, group in enumerate(groups):
        columns = np.unique(np.concatenate([kept[name] for name in group]))
        report(progress, g, len(groups), f"reading the responses of {len(group)} regions")
        if split == "sessions":
            sessions = study.repeat_sessions(n_sessions, stimuli=stimuli, vertices=columns)
            order = np.searchsorted(sessions.stimuli, stimuli)
            patterns = sessions.data[:, order]
        else:
            patterns = study.mean_responses(stimuli, vertices=columns)[None]
        for name in group:
            local = np.searchsorted(columns, kept[name])
            vectors = []
            for k, session in enumerate(patterns):
                region_patterns = session[:, local]
                flat = np.flatnonzero(np.ptp(region_patterns, axis=1) == 0)
                if len(flat):
                    left_out[name] = (f"stimulus {ids[flat[0]]} has the same response at all its vertices"
                                      + (f" in session {k + 1}" if split == "sessions" else ""))
                    break
                vectors.append(compute_rdm(region_patterns, metric="correlation").dissimilarities[0])
            else:
                rdms[name] = RDM(np.stack(vectors), "correlation", ids, {"study": study.name, "region": name},
                                 {"session": list(range(1, len(vectors) + 1))} if split == "sessions" else {})
        del patterns
    report(progress, len(groups), len(groups), f"{len(rdms)} brain RDMs")
    if not rdms:
        raise UserError(f"No region gave an RDM: {'; '.join(f'{k}: {v}' for k, v in left_out.items())}")
    return StudyRDMs(stimuli=stimuli, stimulus_ids=ids, rdms=rdms, split=split, left_out=left_out)


def study_model_brain_rsa(study, regions: Mapping[str, Sequence[int]], networks: Sequence[str], *,
                          max_stimuli: int = 300, split: str = "average", meta: Mapping | None = None,
                          progress: Progress | None = None, **options):
    """Model–brain RSA on a study: its images (at most ``max_stimuli``, :func:`select_stimuli`) through the
    networks against each region's RDM(s) (:func:`study_brain_rdms`).

    Parameters
    ----------
    study : core.studies.Study
    regions : mapping of str to sequence of int
        Region → study vertex indices.
    networks : sequence of str
        ``core.model_brain_rsa.RSA_NETWORKS``.
    max_stimuli : int
    split : str
        A key of :data:`RDM_SPLITS`.
    meta : mapping, optional
        More settings to keep in the result's ``meta`` (e.g. the ROI class).
    progress : callable, optional
    **options
        Passed to ``core.model_brain_rsa.run_model_brain_rsa`` (method, layers, n_permutations, n_bootstrap,
        seed, device...).

    Returns
    -------
    core.model_brain_rsa.ModelBrainRSAResult
        ``meta`` adds ``study``, ``split``, ``n_study_stimuli`` and ``left_out`` (regions without an RDM: why).
    """
    from core.model_brain_rsa import run_model_brain_rsa

    eligible = session_stimuli(study) if split == "sessions" else None
    if eligible is not None and len(eligible) < 3:
        raise UserError(f"Study {study.name} has no repeat sessions of 3 or more stimuli; choose RDMs of the "
                        "averaged responses")
    chosen = select_stimuli(study.categories, max_stimuli, eligible=eligible)
    brain = study_brain_rdms(study, regions, chosen, split=split, progress=span(progress, 0.0, 0.1))
    result = run_model_brain_rsa(study.stimulus_set().subset(chosen.tolist()), brain.rdms, networks,
                                 progress=span(progress, 0.1, 1.0), **options)
    return dataclasses.replace(result, meta={**result.meta, "study": study.name, "split": split,
                                             "n_study_stimuli": study.n_stimuli, "left_out": brain.left_out,
                                             **dict(meta or {})})
