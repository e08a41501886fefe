"""Load: 20 concurrent browser-like sessions against the running app (``bench/load.py``, short run)."""

from bench.load import report, run_load


def test_twenty_sessions_switch_maps_and_upload_images_without_errors(live_app):
    result = run_load(live_app.url, sessions=20, duration=0, pages=("/virtual-fmri",), min_actions=2)
    print(report(result))
    assert result["errors"] == []
    assert len(result["latencies"]["first draw"]) == len(result["latencies"]["switch map"]) == 20
    assert len(result["latencies"]["upload"]) == 20
    assert live_app.is_up()
