"""Every page fed by the simulated subject states what is true by construction (issue 15)."""

from __future__ import annotations

import dash
import pytest
from dash.testing.application_runners import import_app

from core.subject import construction_notes, load_subject_spec
from dashboard import services

#: Simulator-fed pages (module under dashboard.pages) and the id prefix of their notes.
PAGES = {"virtual_fmri": "virtual-fmri", "cortical_maps": "cortical-maps", "selectivity": "selectivity",
         "rdm_clusters": "rdm-clusters", "identity_expression": "identity-expression"}


def _find(component, component_id):
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find(child, component_id)
            if found is not None:
                return found
    return None


def test_the_notes_come_from_the_default_spec():
    notes = services.simulation_notes()
    assert notes == construction_notes(load_subject_spec("v3"))
    assert any("FFC (R) is driven by the identity net" in note for note in notes)
    assert any("not neutral" in note for note in notes)


@pytest.fixture(scope="module")
def layouts():
    dash.page_registry.clear()
    import_app("app")  # pages register themselves with the app
    return {page["module"].rsplit(".", 1)[-1]: page["layout"]() for page in dash.page_registry.values()}


@pytest.mark.parametrize("page, prefix", PAGES.items())
def test_each_simulator_fed_page_shows_the_notes(layouts, page, prefix):
    notes = _find(layouts[page], f"{prefix}-construction-notes")
    assert notes is not None, f"{page} lacks the by-construction notes"
    items = [item.children for item in notes.children[1].children]
    assert items == services.simulation_notes()
