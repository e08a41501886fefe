"""Component ids, one class per page; kebab-case strings prefixed with the page."""


class Shell:
    """Ids that live in the app shell."""

    NAVBAR = "shell-navbar"
    STORE_JOB_STATUS = "store-job-status"
    ERROR = "shell-error"


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


class VirtualFmri:
    RUN = "virtual-fmri-run"
    CANCEL = "virtual-fmri-cancel"
    PROGRESS = "virtual-fmri-progress"
    STATUS = "virtual-fmri-status"
    RESULT_KEY = "virtual-fmri-result-key"
    MAP = "virtual-fmri-map"
    FDR = "virtual-fmri-fdr"
    VIEW = "virtual-fmri-view"
    QUALITY_GRAPH = "virtual-fmri-quality-graph"
    ROI_GRAPH = "virtual-fmri-roi-graph"
    IMAGE_A = "virtual-fmri-image-a"
    IMAGE_B = "virtual-fmri-image-b"
    PAIR_GRAPH = "virtual-fmri-pair-graph"
    PREDICTION_GRAPH = "virtual-fmri-prediction-graph"
    PREDICTION_MODE = "virtual-fmri-prediction-mode"
    ERROR = "virtual-fmri-error"


class Selectivity:
    CATEGORY = "selectivity-category"
    VIEW = "selectivity-view"
    GRAPH = "selectivity-graph"
    TOP_GRAPH = "selectivity-top-graph"
    ROI_GRAPH = "selectivity-roi-graph"
    STATUS = "selectivity-status"


class RdmClusters:
    STATUS = "rdm-clusters-status"
    HEATMAP = "rdm-clusters-heatmap"
    DENDROGRAM = "rdm-clusters-dendrogram"
    MODULARITY = "rdm-clusters-modularity"
    SEMANTIC_METHOD = "rdm-clusters-semantic-method"
    SCATTER = "rdm-clusters-scatter"
    CLUSTER = "rdm-clusters-cluster"
    VIEW = "rdm-clusters-view"
    CLUSTER_MAP = "rdm-clusters-cluster-map"
    DOWNLOAD_BUTTON = "rdm-clusters-download-button"
    DOWNLOAD = "rdm-clusters-download"


class Reconstructions:
    N_FACES = "reconstructions-n-faces"
    SNR = "reconstructions-snr"
    RUN = "reconstructions-run"
    CANCEL = "reconstructions-cancel"
    PROGRESS = "reconstructions-progress"
    RESULT = "reconstructions-result"
    STATUS = "reconstructions-status"
    GALLERY = "reconstructions-gallery"
    ACCURACY = "reconstructions-accuracy"


class IdentityExpression:
    RUN = "identity-expression-run"
    CANCEL = "identity-expression-cancel"
    PROGRESS = "identity-expression-progress"
    RESULT = "identity-expression-result"
    STATUS = "identity-expression-status"
    NETWORK = "identity-expression-network"
    HEATMAP = "identity-expression-heatmap"
    LINES = "identity-expression-lines"
    DECODING = "identity-expression-decoding"
    CONGRUENCE = "identity-expression-congruence"
    STRIP = "identity-expression-strip"
