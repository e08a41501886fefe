"""Component ids, one class per page; kebab-case strings prefixed with the page."""


class Shell:
    """Ids that live in the app shell."""

    NAVBAR = "shell-navbar"
    STORE_JOB_STATUS = "store-job-status"


class CorticalMaps:
    MAP = "cortical-maps-map"
    VIEW = "cortical-maps-view"
    THRESHOLD = "cortical-maps-threshold"
    GRAPH = "cortical-maps-graph"
    CLICK_INFO = "cortical-maps-click-info"
    SPEC = "cortical-maps-spec"
    EXPORT_FORMAT = "cortical-maps-export-format"
    EXPORT_BUTTON = "cortical-maps-export-button"
    DOWNLOAD = "cortical-maps-download"
    ERROR = "cortical-maps-error"
