"""Bring your own study: stimuli + responses on a cortical space + ROI masks + provenance, in the studio's store.

Import (validated, streamed, nothing half-written)::

    from core.studies import import_study, load_study
    study = import_study("algonauts2023", "/data/algonauts_2023/subj01", "nsd-subj01", progress=print)
    study = load_study("nsd-subj01")
    study.responses              # (n_presentations, n_vertices) float32 memory map
    study.mean_responses()       # one row per stimulus (mean over repeats)
    study.noise_ceiling()        # from repeats, else ncsnr, else "not available" (r=None + reason)
    study.display_map(r)         # (space, values) on fsLR-32k or fsaverage5 for drawing

ROI sets (the study's own masks, else Glasser's areas on fsLR-32k): :func:`study_roi_sets`.

Formats: :data:`IMPORTERS` (``algonauts2023``, ``folder``, ``simulated``); zipped folder studies:
:func:`import_zip`. Command line: ``python -m core study import|list|show|remove``.
"""

from core.studies.archive import MAX_ZIP_BYTES, import_zip, unpack_zip
from core.studies.importers import IMPORTERS, algonauts_roi_tables, import_study
from core.studies.rois import GLASSER, NO_ROIS, study_roi_sets, study_roi_source
from core.studies.store import (
    check_study_name,
    list_studies,
    load_study,
    remove_study,
    resolve_in_allowed_roots,
    studies_dir,
)
from core.studies.study import (
    SPACES,
    DisplayMap,
    RepeatSessions,
    RoiClass,
    Study,
    StudyCeiling,
    StudyImage,
)

__all__ = [
    "IMPORTERS",
    "MAX_ZIP_BYTES",
    "SPACES",
    "DisplayMap",
    "RepeatSessions",
    "RoiClass",
    "Study",
    "StudyCeiling",
    "StudyImage",
    "algonauts_roi_tables",
    "check_study_name",
    "import_study",
    "import_zip",
    "list_studies",
    "load_study",
    "remove_study",
    "resolve_in_allowed_roots",
    "studies_dir",
    "unpack_zip",
    "GLASSER",
    "NO_ROIS",
    "study_roi_sets",
    "study_roi_source",
]
