"""The placeholder figure: a message instead of empty axes."""

from dashboard.figures.placeholder import placeholder_figure


def test_placeholder_hides_its_axes_and_shows_the_message():
    fig = placeholder_figure("Run the experiment to see this map")
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert [a.text for a in fig.layout.annotations] == ["Run the experiment to see this map"]
    assert not fig.data and fig.layout.dragmode is False and "toImage" in fig.layout.modebar.remove
