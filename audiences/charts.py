"""The audience size chart: records and distinct profiles per build, as a plain plotly figure dict.

Drawn by campaigns/charts.js with plotly.js served locally (the campaigns app's static finder), like every
chart of the dashboard; built as a dict (not plotly.graph_objects) so a page costs no figure validation.
"""

from __future__ import annotations

from audiences.models import AudienceBuild
from campaigns.charts import date_axis

FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}


def audience_size_figure(builds: list[AudienceBuild]) -> dict:
    """Two lines over build time: records and distinct profiles (gaps where a build had no profile count)."""
    times = [b.built_at.isoformat() for b in builds]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Records",
                "x": times,
                "y": [b.record_count for b in builds],
                "line": {"color": "#4f5bd5"},
                "hovertemplate": "%{y:,} records<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Distinct profiles",
                "x": times,
                "y": [b.distinct_profile_count for b in builds],
                "line": {"color": "#2bb3a3"},
                "hovertemplate": "%{y:,} profiles<extra></extra>",
            },
        ],
        "layout": {
            "font": FONT,
            "margin": {"l": 60, "r": 20, "t": 10, "b": 70},
            "height": 300,
            # at the figure's bottom edge, below the axis title whatever the height of the date labels
            "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
            "hovermode": "x unified",
            "yaxis": {"rangemode": "tozero", "tickformat": ",d", "title": {"text": "Count"}},
            "xaxis": date_axis("Build (UTC)"),
            "plot_bgcolor": "#fff",
            "paper_bgcolor": "#fff",
        },
    }
