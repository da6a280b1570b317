"""Plotly figures of the campaign pages, as plain figure dicts (data + layout) that the page draws with
Plotly.newPlot from plotly.js served locally. Building the dicts directly (rather than through
plotly.graph_objects, which validates every property) keeps a page with three figures of 365 points well
under a millisecond of figure work; `figure_json` serialises them with plotly's own JSON encoder."""

from __future__ import annotations

from decimal import Decimal

from plotly.io.json import to_json_plotly

COLORS = {
    "spend": "#4f5bd5",
    "impressions": "#2bb3a3",
    "cpm": "#e8833a",
    "target": "#8a8fa3",
    "match": "#7a5cd6",
}
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}


def _layout(title: str, **extra) -> dict:
    layout = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": FONT,
        "margin": {"l": 70, "r": 70, "t": 50, "b": 90},
        "height": 360,
        "legend": {"orientation": "h", "y": -0.32},
        "hovermode": "x unified",
        "plot_bgcolor": "#fff",
        "paper_bgcolor": "#fff",
    }
    layout.update(extra)
    return layout


def _f(value) -> float | None:
    return None if value is None else float(value)


def figure_json(figure: dict) -> str:
    return to_json_plotly(figure)


def daily_delivery_figure(rows: list) -> dict:
    dates = [r.date.isoformat() for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "name": "Spend (USD)",
                "x": dates,
                "y": [_f(r.spend) for r in rows],
                "marker": {"color": COLORS["spend"]},
                "hovertemplate": "$%{y:,.2f}",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Impressions delivered",
                "x": dates,
                "y": [r.impressions for r in rows],
                "yaxis": "y2",
                "line": {"color": COLORS["impressions"], "width": 2},
                "hovertemplate": "%{y:,}",
            },
        ],
        "layout": _layout(
            "Daily spend and delivery",
            xaxis={"title": {"text": "Date (UTC)"}, "type": "date"},
            yaxis={"title": {"text": "Spend (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
            yaxis2={
                "title": {"text": "Impressions"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
            },
        ),
    }


def cpm_trend_figure(rows: list, target_cpm: Decimal | None) -> dict:
    dates = [r.date.isoformat() for r in rows]
    cumulative, spend, impressions = [], Decimal(0), 0
    for r in rows:
        spend += r.spend
        impressions += r.impressions
        cumulative.append(float(spend * 1000 / impressions) if impressions else None)
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Daily CPM (USD)",
            "x": dates,
            "y": [_f(r.spend * 1000 / r.impressions) if r.impressions else None for r in rows],
            "line": {"color": COLORS["cpm"], "width": 1.5},
            "marker": {"size": 4},
            "hovertemplate": "$%{y:,.2f}",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Cumulative eCPM (USD)",
            "x": dates,
            "y": cumulative,
            "line": {"color": COLORS["spend"], "width": 2.5},
            "hovertemplate": "$%{y:,.2f}",
        },
    ]
    if target_cpm is not None and dates:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Target CPM (USD)",
                "x": [dates[0], dates[-1]],
                "y": [float(target_cpm), float(target_cpm)],
                "line": {"color": COLORS["target"], "dash": "dash"},
                "hoverinfo": "skip",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            "CPM trend",
            xaxis={"title": {"text": "Date (UTC)"}, "type": "date"},
            yaxis={
                "title": {"text": "CPM (USD per 1,000 impressions)"},
                "tickprefix": "$",
                "rangemode": "tozero",
            },
        ),
    }


def match_rate_figure(match: dict) -> dict:
    lists = match["lists"]
    names = [item["list_name"] for item in lists]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Match rate",
                "y": names,
                "x": [round(item["match_rate"] * 100, 2) for item in lists],
                "text": [f"{item['match_rate']:.1%} of {item['identifiers_count']:,}" for item in lists],
                "textposition": "auto",
                "marker": {"color": COLORS["match"]},
                "hovertemplate": "%{y}: %{x:.1f}%<extra></extra>",
            }
        ],
        "layout": _layout(
            f"Match rate per list (overall {match['match_rate']:.1%})",
            xaxis={"title": {"text": "Identifiers matched (%)"}, "range": [0, 100], "ticksuffix": "%"},
            yaxis={"automargin": True},
            hovermode="closest",
            height=max(220, 90 + 40 * len(lists)),
            margin={"l": 20, "r": 30, "t": 50, "b": 50},
            showlegend=False,
        ),
    }


def campaign_comparison_figures(rows: list[dict]) -> tuple[dict, dict]:
    """(spend and eCPM by campaign, impressions by campaign) for the overview, in the rows' order."""
    names = [r["name"] for r in rows]
    spend = {
        "data": [
            {
                "type": "bar",
                "name": "Spend (USD)",
                "x": names,
                "y": [_f(r["spend"]) for r in rows],
                "marker": {"color": COLORS["spend"]},
                "hovertemplate": "$%{y:,.2f}",
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": "eCPM (USD)",
                "x": names,
                "y": [_f(r["effective_cpm"]) for r in rows],
                "yaxis": "y2",
                "marker": {"color": COLORS["cpm"], "size": 10, "symbol": "diamond"},
                "hovertemplate": "$%{y:,.2f}",
            },
        ],
        "layout": _layout(
            "Spend and eCPM by campaign",
            xaxis={"title": {"text": "Campaign"}, "automargin": True, "tickangle": -30},
            yaxis={"title": {"text": "Spend (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
            yaxis2={
                "title": {"text": "eCPM (USD)"},
                "overlaying": "y",
                "side": "right",
                "tickprefix": "$",
                "rangemode": "tozero",
                "showgrid": False,
            },
            height=400,
        ),
    }
    impressions = {
        "data": [
            {
                "type": "bar",
                "name": "Impressions delivered",
                "x": names,
                "y": [r["impressions"] for r in rows],
                "marker": {"color": COLORS["impressions"]},
                "hovertemplate": "%{y:,}",
            }
        ],
        "layout": _layout(
            "Impressions delivered by campaign",
            xaxis={"title": {"text": "Campaign"}, "automargin": True, "tickangle": -30},
            yaxis={"title": {"text": "Impressions"}, "rangemode": "tozero"},
            height=400,
            showlegend=False,
        ),
    }
    return spend, impressions
