"""Your study (/your-study, not in the navbar): the chosen study's fitted maps, predicted maps and selectivity on one
page, and the callbacks of the study views of Cortical Maps, Virtual fMRI and Selectivity (``_study_views``)."""

import dash
from dash import Input, Output, State, callback, ctx, html, no_update

from dashboard import services
from dashboard.figures.encoding import roi_accuracy_figure
from dashboard.figures.placeholder import placeholder_figure
from dashboard.figures.selectivity import roi_selectivity_figure
from dashboard.ids import StudyViews as ids
from dashboard.messages import error_alert
from dashboard.pages._shared import background_job, cortex_update, map_style, progress_reporter, report_cancel
from dashboard.pages._study_views import (  # noqa: F401
    _CATEGORIES_FIRST,
    _CHOOSE_STUDY,
    _FIT_FIRST,
    _NO_ROIS,
    _PREDICT_FIRST,
    layout,
)

dash.register_page(__name__, path="/your-study", name="Your study", order=None)

_DISPLAY = [Input(ids.VIEW, "value"), Input(ids.CAMERA, "value"), Input(ids.HEMISPHERE, "value"),
            Input(ids.BORDERS, "value")]
_CHANGES = {ids.CAMERA: "camera", ids.BORDERS: "colour"}


def _draw(drawn: dict, style_key: str, view, camera, hemisphere, borders, rendered, **labels):
    """``cortex_update`` of a study map (``drawn``: its ``values`` and ``space``) on the surface of its own space."""
    values = drawn["values"]
    return cortex_update(
        values, view, change=_CHANGES.get(ctx.triggered_id, "figure"), rendered=rendered, camera=camera,
        hemisphere=hemisphere, borders="on" in (borders or []), surface=services.map_surface(drawn["space"], view),
        **map_style(style_key, values), **labels)


@callback(Output(ids.GRAPH, "figure"), Output(ids.RENDERED, "data"), Output(ids.MAP_STATUS, "children"),
          Input(ids.MAP, "value"), Input(ids.PREDICTED_ONLY, "value"), *_DISPLAY, Input(ids.STUDY, "data"),
          State(ids.RENDERED, "data"))
def draw_study_map(map_name, predicted_only, view, camera, hemisphere, borders, study, rendered):
    """The chosen map of the study's fit on its display surface, with the count of predicted vertices."""
    if not study:
        return placeholder_figure(_CHOOSE_STUDY), None, None
    try:
        drawn = services.study_map(study, map_name, predicted_only="on" in (predicted_only or []))
    except ValueError as exc:
        return placeholder_figure(_FIT_FIRST), None, error_alert(exc, color="warning", className="p-2")
    count = (f"{drawn['n_predicted']:,} of {drawn['n_vertices']:,} vertices predicted (FDR q < "
             f"{services.STUDY_PREDICTED_Q:g}).")
    if not drawn["available"]:
        return placeholder_figure(f"{services.STUDY_MAPS[map_name][0]}: not available"), None, [
            html.Div(count), html.Div(drawn["reason"], className="text-muted")]
    label, units = services.STUDY_MAPS[map_name]
    figure, shown = _draw(drawn, f"quality:{map_name}", view, camera, hemisphere, borders, rendered,
                          colorbar_title=units, title=f"{study}: {label}")
    return figure, shown, count


@callback(Output(ids.PREDICTED, "data"), Output(ids.PREDICT_STATUS, "children"), Input(ids.PREDICT, "n_clicks"),
          State(ids.IMAGE, "value"), State(ids.STUDY, "data"),
          **background_job(ids.PREDICT, ids.PREDICT_CANCEL, ids.PREDICT_PROGRESS))
def predict_image(set_progress, _clicks, image, study):
    """Background job: the chosen library image through ResNet-50 and the study's encoding model."""
    if not study or not image:
        return no_update, "Choose an image first."
    try:
        services.predict_study_image(study, image, progress=progress_reporter(set_progress))
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
    return image, "Predicted."


report_cancel(ids.PREDICT_CANCEL, ids.PREDICT_STATUS)


@callback(Output(ids.IMAGE, "options"), Output(ids.IMAGE, "value"), Output(ids.UPLOAD_STATUS, "children"),
          Input(ids.UPLOAD, "contents"), State(ids.UPLOAD, "filename"), State(ids.IMAGE, "options"),
          prevent_initial_call=True)
def upload_image(contents, filename, options):
    """A checked, stored upload becomes the chosen image (first in the list); 'Predict' then predicts it."""
    if not contents:
        return no_update, no_update, no_update
    try:
        option = services.save_upload(contents, filename)
    except ValueError as exc:
        return no_update, no_update, error_alert(exc, className="p-2")
    kept = [o for o in options or [] if o["value"] != option["value"]]
    return [option, *kept], option["value"], "Uploaded: press 'Predict'."


@callback(Output(ids.PREDICTION_GRAPH, "figure"), Output(ids.PREDICTION_RENDERED, "data"),
          Input(ids.IMAGE, "value"), Input(ids.PREDICTED, "data"), *_DISPLAY, Input(ids.STUDY, "data"),
          State(ids.PREDICTION_RENDERED, "data"))
def draw_prediction(image, _predicted, view, camera, hemisphere, borders, study, rendered):
    """The predicted map of the chosen image, once the Predict job made it (diverging around 0)."""
    if not study or not image:
        return placeholder_figure(_PREDICT_FIRST if study else _CHOOSE_STUDY), None
    try:
        drawn = services.study_predicted_map(study, image)
    except ValueError as exc:
        return placeholder_figure(str(exc)), None
    if drawn is None:
        return placeholder_figure("Press 'Predict' to predict this image with the study's model"), None
    name = image.rsplit("/", 1)[-1]
    return _draw(drawn, "predicted:", view, camera, hemisphere, borders, rendered, colorbar_title="predicted (a.u.)",
                 title=f"Predicted response to {name} ({study}'s model)")


@callback(Output(ids.CATEGORIES_DONE, "data"), Output(ids.CATEGORIES_STATUS, "children"),
          Input(ids.CATEGORIES, "n_clicks"), State(ids.STUDY, "data"),
          **background_job(ids.CATEGORIES, ids.CATEGORIES_CANCEL, ids.CATEGORIES_PROGRESS))
def compute_categories(set_progress, _clicks, study):
    """Background job: the labelled library through ResNet-50 and the study's model; category maps and d′."""
    if not study:
        return no_update, _CHOOSE_STUDY
    try:
        services.compute_study_categories(study, progress=progress_reporter(set_progress))
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
    return study, "Computed."


report_cancel(ids.CATEGORIES_CANCEL, ids.CATEGORIES_STATUS)


@callback(Output(ids.CATEGORY, "options"), Output(ids.CATEGORY, "value"), Output(ids.CATEGORIES_SUMMARY, "children"),
          Input(ids.CATEGORIES_DONE, "data"), Input(ids.STUDY, "data"), State(ids.CATEGORY, "value"))
def category_choices(_done, study, chosen):
    """The library's categories once the study's selectivity is computed, with how many vertices it covers."""
    if not study:
        return [], None, None
    try:
        summary = services.study_categories(study)
    except ValueError as exc:
        return [], None, error_alert(exc, color="warning", className="p-2")
    if summary is None:
        return [], None, None
    categories = summary["categories"]
    value = chosen if chosen in categories else ("face" if "face" in categories else categories[0])
    left_out = (f" Left out (a single image, d′ needs two): {', '.join(summary['left_out'])}."
                if summary["left_out"] else "")
    return ([{"label": c, "value": c} for c in categories], value,
            f"{summary['n_images']:,} library images in {len(categories)} categories; {summary['n_predicted']:,} of "
            f"{summary['n_vertices']:,} vertices predicted (FDR q < {services.STUDY_PREDICTED_Q:g}) are shown."
            + left_out)


@callback(Output(ids.CATEGORY_GRAPH, "figure"), Output(ids.CATEGORY_RENDERED, "data"),
          Input(ids.CATEGORY, "value"), Input(ids.CATEGORY_MAP, "value"), *_DISPLAY, Input(ids.STUDY, "data"),
          State(ids.CATEGORY_RENDERED, "data"))
def draw_category(category, map_name, view, camera, hemisphere, borders, study, rendered):
    """The chosen category's d′ map (diverging around 0) or category map on the study's display surface."""
    if not study or not category:
        return placeholder_figure(_CATEGORIES_FIRST if study else _CHOOSE_STUDY), None
    try:
        drawn = services.study_category_map(study, category, map_name)
    except ValueError as exc:
        return placeholder_figure(str(exc)), None
    if drawn is None:
        return placeholder_figure(_CATEGORIES_FIRST), None
    label, units = services.STUDY_CATEGORY_MAPS[map_name]
    return _draw(drawn, "dprime" if map_name == "dprime" else "category", view, camera, hemisphere, borders,
                 rendered, colorbar_title=units, title=f"{study}: {label}, {category}")


def _glasser_note(streams) -> str:
    return " Glasser's areas of the four visual streams are shown, each hemisphere apart." if streams else ""


@callback(Output(ids.ROI_GRAPH, "figure"), Output(ids.ROI_STATUS, "children"), Input(ids.ROI_CLASS, "value"),
          Input(ids.STUDY, "data"))
def draw_study_roi_accuracy(roi_class, study):
    """Mean test r per region of the chosen ROI class: 95 % bootstrap interval over test images, noise ceiling."""
    if not study:
        return placeholder_figure(_CHOOSE_STUDY), None
    if not roi_class:
        return placeholder_figure(_NO_ROIS), None
    try:
        rois = services.study_roi_accuracy(study, roi_class)
    except ValueError as exc:
        return placeholder_figure(_FIT_FIRST), error_alert(exc, color="warning", className="p-2")
    notes = ("Black ticks: each region's mean noise ceiling." if rois["ceiling"] is not None else
             "No noise ceiling: the study has no repeats and no ncsnr file.")
    if rois["outer_cv"]:
        notes += (" Each image was predicted by a model fitted without it (outer cross-validation); r pooled over "
                  "the folds leans below 0 where the model predicts nothing, so a region below 0 is unpredicted, "
                  "not worse than chance.")
    figure = roi_accuracy_figure(rois["roi_names"], rois["means"][None], rois["ci_low"][None], rois["ci_high"][None],
                                 [f"{study}'s model"], streams=rois["streams"], ceiling=rois["ceiling"],
                                 ylabel="test r", interval_label="95 % bootstrap CI over test images",
                                 title=f"Mean test r per region, {roi_class}<br>(95 % CI over {rois['n_test']:,} test "
                                       "images)")
    return figure, (f"Mean over each region's vertices of the held-out r, with a 95 % percentile bootstrap interval "
                    f"over the {rois['n_test']:,} test images ({rois['n_resamples']:,} resamples). {notes}"
                    + _glasser_note(rois["streams"]))


@callback(Output(ids.CATEGORY_ROI_GRAPH, "figure"), Input(ids.CATEGORY, "value"), Input(ids.CATEGORY_ROI_CLASS, "value"),
          Input(ids.STUDY, "data"))
def draw_study_roi_selectivity(category, roi_class, study):
    """Mean ± SD of the chosen category's d′ over the predicted vertices of each region of the chosen ROI class."""
    if not study or not category:
        return placeholder_figure(_CATEGORIES_FIRST if study else _CHOOSE_STUDY)
    if not roi_class:
        return placeholder_figure(_NO_ROIS)
    try:
        rois = services.study_roi_selectivity(study, category, roi_class)
    except ValueError as exc:
        return placeholder_figure(str(exc))
    if rois is None:
        return placeholder_figure(_CATEGORIES_FIRST)
    if not rois["roi_names"]:
        return placeholder_figure(f"No region of {roi_class} has a vertex the study's model predicts")
    return roi_selectivity_figure(rois["roi_names"], rois["means"], rois["sds"], rois["streams"], category=category,
                                  title=f"Mean d′ per region of {roi_class} (± SD over its predicted vertices): "
                                        f"{category}")
