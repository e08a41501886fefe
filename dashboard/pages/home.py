"""Home: what the studio is, what is real and what is simulated, and where each method comes from."""

import dash
import dash_bootstrap_components as dbc
from dash import html

from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/", name="Home", order=0)

_PAGES = [
    ("Cortical Maps", "/cortical-maps", "wen2018",
     "The fsLR-32k cortex (59,412 vertices), Glasser ROIs and the simulated subject's ground truth."),
    ("Virtual fMRI", "/virtual-fmri", "wen2018",
     "ResNet-50 features → layer-wise PCA → voxel-wise ridge encoding models → predicted maps for any image."),
    ("Selectivity", "/selectivity", "wen2018", "Category maps and per-vertex category selectivity d′."),
    ("RDM Clusters", "/rdm-clusters", "wen2018",
     "Inter-category similarity, k-means with signed modularity, semantic similarity, layer contributions."),
    ("Identity & Expression", "/identity-expression", "schwartz2023",
     "Identity- vs expression-trained networks compared with brain RDMs, layer by layer."),
    ("Reconstructions", "/reconstructions", "vanrullen2019",
     "Brain patterns → a face generator's latent space → reconstructed faces, against a PCA baseline."),
    ("Studies", "/studies", "wen2018",
     "Your own fMRI data (Algonauts 2023 / NSD or a plain folder): import, fit its encoding model, then choose it "
     "under Data in the navbar."),
]


def layout(**_query):
    """Static overview; loads no data."""
    rows = [
        html.Tr([
            html.Td(html.A(name, href=path)),
            html.Td(text),
            html.Td(html.A(PAPERS[key][0].split(" — ")[0], href=PAPERS[key][1], target="_blank",
                           rel="noopener")),
        ])
        for name, path, key, text in _PAGES
    ]
    return dbc.Container([
        html.H1("Virtual fMRI Studio"),
        html.P("Run virtual fMRI experiments in the browser: predict cortical responses to any image "
               "from deep-network features, analyse categories, representations and faces, and "
               "generate hypotheses before a real experiment."),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H4("Real"),
                html.P("The networks are real pretrained weights: ImageNet ResNet-50 (He et al., the "
                       "weights used by Wen et al. 2018), EfficientNet-Lite0, face-api's identity, "
                       "expression, age-gender and landmark nets, a FER2013 expression net and a DCGAN "
                       "face generator. The cortex is the real HCP fsLR-32k surface with the Glasser "
                       "2016 parcellation."),
            ]), className="border-success"), md=6),
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H4("Simulated"),
                html.P("No natural-image fMRI data ship with the studio, so the default subject is "
                       "simulated from a declared ground truth: each region is driven by a stated "
                       "network layer with stated category preferences and noise. Every page it feeds "
                       "says so. Your own data (NIfTI, GIFTI, CIFTI, npz, mat) replace it."),
            ]), className="border-warning"), md=6),
        ], className="mb-4"),
        html.H4("Pages and the papers they rebuild"),
        dbc.Table([html.Thead(html.Tr([html.Th("Page"), html.Th("What it does"), html.Th("Paper")])),
                   html.Tbody(rows)], bordered=False, hover=True, size="sm"),
    ], fluid=True)
