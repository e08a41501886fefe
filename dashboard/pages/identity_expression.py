"""Identity & Expression page (/identity-expression): face networks vs brain regions (Schwartz et al. 2023)."""

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, Patch, State, callback, dcc, html, no_update

from dashboard import services
from dashboard.components import job_controls, page_header, simulated_subject_badge
from dashboard.figures.cortex import surface_intensity_patch
from dashboard.figures.faces import stimulus_strip_figure
from dashboard.figures.rdm import layer_line_figure, region_layer_heatmap_figure
from dashboard.ids import IdentityExpression as ids
from dashboard.pages._shared import PAPERS, background_job, cortex_figure, progress_reporter

dash.register_page(__name__, path="/identity-expression", name="Identity & Expression", order=5)

_NETWORK_NAMES = {"face_identity": "identity net (face-api)", "face_expression": "expression net (face-api)",
                  "fer_minixception": "expression net (FER2013)", "resnet50": "ResNet-50 (objects, control)"}

#: The region picker's cortex view (flat: every face region visible at once) and colours.
_PICKER_VIEW = "flat"
_PICKER_STYLE = {"colorscale": [[0.0, "#6baed6"], [1.0, "#d62728"]], "vmin": 1.0, "vmax": 2.0,
                 "colorbar_title": "face regions<br>(red: selected)"}


def layout(**_query):
    """Controls and empty figures."""
    controls = dbc.Card(dbc.CardBody([
        html.P("48 DCGAN faces (12 generated identities × 4 variants; expression labels are model-made) are "
               "shown to the simulated subject. Region RDMs (4 noisy repetitions) are compared with every "
               "layer of identity- and expression-trained networks (Spearman, 1,000 permutations); layers are "
               "read as spatial means per channel, the representation the simulated regions are driven by.",
               className="small"),
        *job_controls(ids.RUN, ids.CANCEL, ids.PROGRESS, "Run analysis"),
        html.Div(id=ids.STATUS, className="small mt-2"),
        dbc.Label("Network for the heatmap", className="mt-2", html_for=ids.NETWORK),
        dbc.Select(id=ids.NETWORK, value="face_identity",
                   options=[{"label": v, "value": k} for k, v in _NETWORK_NAMES.items()]),
    ]))
    return html.Div([
        page_header("Identity & Expression", *PAPERS["schwartz2023"]),
        simulated_subject_badge("identity-expression", services.subject_spec_summary()),
        dcc.Store(id=ids.RESULT),
        dbc.Row([dbc.Col(controls, md=3), dbc.Col(dcc.Graph(id=ids.HEATMAP, style={"height": "45vh"}), md=9)]),
        dbc.Row([
            dbc.Col([dcc.Graph(id=ids.CORTEX, style={"height": "40vh"}),
                     html.P("Click a face region on the cortex (or pick it below) to show its curves.",
                            className="small text-muted")], md=6),
            dbc.Col([dbc.Label("Region", html_for=ids.REGION),
                     dbc.Select(id=ids.REGION, value=services.FACE_REGIONS[0],
                                options=[{"label": r, "value": r} for r in services.FACE_REGIONS]),
                     html.Div(id=ids.REGION_TABLE, className="mt-2")], md=6),
        ]),
        dbc.Row([dbc.Col(dcc.Graph(id=ids.LINES, style={"height": "40vh"}), md=6),
                 dbc.Col(dcc.Graph(id=ids.DECODING, style={"height": "40vh"}), md=6)]),
        dbc.Row([dbc.Col(dcc.Graph(id=ids.CONGRUENCE, style={"height": "35vh"}), md=5),
                 dbc.Col(dcc.Graph(id=ids.STRIP, style={"height": "35vh"}), md=7)]),
    ])


@callback(
    Output(ids.RESULT, "data"),
    Input(ids.RUN, "n_clicks"),
    **background_job(ids.RUN, ids.CANCEL, ids.PROGRESS),
)
def run_analysis(set_progress, _clicks):
    """Background job: features, RDMs, simulated regions, comparisons, decoding, congruence."""
    return services.run_face_analysis(progress=progress_reporter(set_progress))


@callback(Output(ids.CORTEX, "figure"), Input(ids.REGION, "value"), State(ids.CORTEX, "figure"))
def draw_region_picker(region, drawn):
    """The face regions on the flat cortex, the selected one in red; later selections patch the colours."""
    values = services.face_region_map(region)
    if not drawn:
        return cortex_figure(values, _PICKER_VIEW, title="Face regions (simulated subject)", **_PICKER_STYLE)
    patch = Patch()
    for index, attributes in surface_intensity_patch(services.cortex_mesh(_PICKER_VIEW), values,
                                                     sulc=services.cortex_sulc(), **_PICKER_STYLE).items():
        for attribute, value in attributes.items():
            patch["data"][index][attribute] = value
    return patch


@callback(Output(ids.REGION, "value"), Input(ids.CORTEX, "clickData"), prevent_initial_call=True)
def pick_region(click):
    """Select the face region under a click on the cortex (clicks elsewhere change nothing)."""
    point = (click or {}).get("points", [{}])[0]
    if point.get("curveNumber") not in (0, 1) or "pointNumber" not in point:
        return no_update
    return services.face_region_at(_PICKER_VIEW, point["curveNumber"], point["pointNumber"]) or no_update


def _region_table(res, selected: str):
    """Regions with their declared driver, best-layer r per network and noise ceiling; ``selected`` highlighted."""
    nets = res["networks"] if res else []
    header = html.Tr([html.Th(h) for h in ("region", "declared driver", "vertices",
                                           *(f"best r: {_NETWORK_NAMES[n]}" for n in nets), "noise ceiling")])
    rows = []
    for info in services.face_regions():
        cells = [info["region"], info["driver"], info["n_vertices"]]
        if res:
            i = res["regions"].index(info["region"])
            cells += [f"{np.nanmax(res['r'][i, k]):.3f}" for k in range(len(nets))]
            cells.append(f"{res['ceiling_lower'][i]:.2f}–{res['ceiling_upper'][i]:.2f}")
        rows.append(html.Tr([html.Td(c) for c in cells],
                            className="table-active fw-bold" if info["region"] == selected else ""))
    return dbc.Table([html.Thead(header), html.Tbody(rows)], size="sm", bordered=True, className="small")


@callback(Output(ids.LINES, "figure"), Output(ids.REGION_TABLE, "children"), Input(ids.RESULT, "data"),
          Input(ids.REGION, "value"))
def draw_region(path, region):
    """The selected region's curves across depth (every network, with its noise ceiling) and the region table."""
    if not path:
        return {}, _region_table(None, region)
    res = services.face_analysis_result(path)
    i, depth = res["regions"].index(region), np.linspace(0, 1, 8)
    series = {}
    for k, net in enumerate(res["networks"]):
        n_layers = len(res["layers"][k])
        series[_NETWORK_NAMES[net]] = np.interp(depth, np.linspace(0, 1, n_layers), res["r"][i, k, :n_layers])
    bands = {"noise ceiling": (np.full(8, res["ceiling_lower"][i]), np.full(8, res["ceiling_upper"][i]))}
    driver = next(row["driver"] for row in services.face_regions() if row["region"] == region)
    lines = layer_line_figure([f"{d:.0%}" for d in depth], series, bands=bands, ylabel="Spearman r",
                              xlabel="relative depth (input → output)",
                              title=f"{region} (declared driver {driver}) vs networks across depth")
    return lines, _region_table(res, region)


@callback(Output(ids.STATUS, "children"), Output(ids.HEATMAP, "figure"),
          Output(ids.DECODING, "figure"), Output(ids.CONGRUENCE, "figure"), Output(ids.STRIP, "figure"),
          Input(ids.RESULT, "data"), Input(ids.NETWORK, "value"), prevent_initial_call=True)
def draw_results(path, network):
    """The figures of a finished analysis that show every region at once."""
    if not path:
        return "", {}, {}, {}, {}
    res = services.face_analysis_result(path)
    nets, regions = res["networks"], res["regions"]
    n = nets.index(network)
    layers = res["layers"][n]
    heatmap = region_layer_heatmap_figure(res["r"][:, n, :len(layers)], regions, layers,
                                          title=f"Brain–network RDM correlation (Spearman): {_NETWORK_NAMES[network]}")
    decoding_series, hlines = {}, {}
    for net in ("face_identity", "face_expression"):
        if f"decode_identity:{net}" in res:
            k = nets.index(net)
            depth = np.linspace(0, 1, len(res["layers"][k]))
            for task in ("identity", "expression"):
                decoding_series[f"{task} from {_NETWORK_NAMES[net]}"] = np.interp(
                    np.linspace(0, 1, 8), depth, res[f"decode_{task}:{net}"])
            hlines["identity chance"], hlines["expression chance"] = res[f"chance:{net}"]
    decoding = layer_line_figure([f"{d:.0%}" for d in np.linspace(0, 1, 8)], decoding_series, hlines=hlines,
                                 ylabel="cross-validated accuracy", xlabel="relative depth (input → output)",
                                 title="Decoding transfer (identity across expressions, expression across identities)")
    k = nets.index("face_identity")
    congruence = {}
    if "congruence:face_identity" in res:
        series = {"congruence": res["congruence:face_identity"]}
        if "congruence_chance:face_identity" in res:
            series["chance (expression labels shuffled within identity)"] = res["congruence_chance:face_identity"]
        congruence = layer_line_figure(
            res["layers"][k], series,
            ylabel="mean |Tucker φ|", title=f"Identity–expression subspace congruence: {_NETWORK_NAMES['face_identity']}")
    captions = [f"{i} / {e}" for i, e in zip(res["identities"], res["expressions"], strict=True)]
    strip = stimulus_strip_figure(res["images"], captions, max_images=24,
                                  model_made=[True] * len(captions), title="Stimuli (identity / expression*)")
    status = "; ".join(res["notes"]) or "Done."
    return status, heatmap, decoding, congruence, strip
