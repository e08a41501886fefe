"""Stimulus sets: image folders, files, arrays, uploads, video frames and the offline stimulus library.

A :class:`StimulusSet` carries per-image descriptors (ids, category labels, superordinate groups,
sources, licences) and no pixels: :func:`load_images` decodes them on demand into a
``uint8`` array of shape ``(n_images, height, width, 3)``. Only :func:`from_arrays` keeps pixels in
memory, and those are the caller's array.

Decoding (:func:`decode_image`) turns every common PIL colour mode into RGB, takes the first frame of
animated files, composites transparency on mid-grey (128, 128, 128), reads the image size from the
header before decoding anything (decompression-bomb guard) and raises :class:`StimulusError`, naming
the file and the reason, for anything it cannot read.

The offline library (:func:`build_stimulus_library`) gathers freely licensed colour photos from
sources listed in :data:`LIBRARY_SOURCES` into one folder with an ``index.json``; see
``data/README.md`` for the sources, their licences and the category scheme.
"""

from __future__ import annotations

from core.stimuli.base import BACKGROUND_GREY as BACKGROUND_GREY
from core.stimuli.base import (
    GROUPS,
    IMAGE_EXTENSIONS,
    LoadReport,
    StimulusError,
    StimulusSet,
)
from core.stimuli.base import MAX_PIXELS as MAX_PIXELS
from core.stimuli.constructors import (
    from_arrays,
    from_files,
    from_folder,
    from_upload,
    from_video,
)
from core.stimuli.decoding import (
    RESIZE_MODES,
    decode_image,
)
from core.stimuli.library import CELEBA_LICENCE as CELEBA_LICENCE
from core.stimuli.library import GCOMPRIS_FILE_CATEGORIES as GCOMPRIS_FILE_CATEGORIES
from core.stimuli.library import GCOMPRIS_FOLDERS as GCOMPRIS_FOLDERS
from core.stimuli.library import (
    GCOMPRIS_RCC_DIR,
    LIBRARY_CATEGORIES,
    LIBRARY_SOURCES,
    build_stimulus_library,
    library_subset,
    load_stimulus_library,
)
from core.stimuli.library import LIBRARY_VERSION as LIBRARY_VERSION
from core.stimuli.library import SKIMAGE_IMAGES as SKIMAGE_IMAGES
from core.stimuli.loading import (
    content_hashes,
    load_images,
    load_images_with_report,
)

__all__ = [
    "GCOMPRIS_RCC_DIR",
    "GROUPS",
    "IMAGE_EXTENSIONS",
    "LIBRARY_CATEGORIES",
    "LIBRARY_SOURCES",
    "RESIZE_MODES",
    "LoadReport",
    "StimulusError",
    "StimulusSet",
    "build_stimulus_library",
    "content_hashes",
    "decode_image",
    "from_arrays",
    "from_files",
    "from_folder",
    "from_upload",
    "from_video",
    "library_subset",
    "load_images",
    "load_images_with_report",
    "load_stimulus_library",
]
