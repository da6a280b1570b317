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


def date_axis(title: str = "Date (UTC)") -> dict:
    """A dates axis (the campaigns' days, an audience's builds): its title below the tick labels whatever their height (a phone's first label takes two
    lines, "Jan 11" over "2026"), and the labels a little away from the axis so the first one never touches
    the value axis's "$0"."""
    return {
        "title": {"text": title, "standoff": 8},
        "type": "date",
        "automargin": True,
        "ticks": "outside",
        "ticklen": 4,
        "tickcolor": "rgba(0,0,0,0)",
    }


def _layout(title: str, **extra) -> dict:
    layout = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": FONT,
        "margin": {"l": 70, "r": 70, "t": 50, "b": 90},
        "height": 360,
        # Anchored to the figure's bottom edge (not the plot area's), so a short chart's legend never
        # lands on its axis title.
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        "hovermode": "x unified",
        "plot_bgcolor": "#fff",
        "paper_bgcolor": "#fff",
    }
    layout.update(extra)
    for key, axis in layout.items():  # "$5,000" and "12,000" on the axes too, as everywhere else
        if key[1:5] == "axis" and axis.get("type") != "category":
            axis.setdefault("separatethousands", True)
    return layout


def _f(value) -> float | None:
    return None if value is None else float(value)


def figure_json(figure: dict) -> str:
    return to_json_plotly(figure)


def percent(rate: float) -> str:
    """The one way a match rate (0..1) is shown: header, table, chart text and hover all read '85.3%'."""
    return f"{rate:.1%}"


LABEL_CHARS = 28


def short_label(name: str, limit: int = LABEL_CHARS) -> str:
    """An axis label that fits: long names end in an ellipsis (the hover shows the whole name)."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def _category_axis(keys: list[str], names: list[str]) -> dict:
    """A category axis keyed by unique ids (two names cut to the same label stay two bars), labelled with
    short names, first item on top, with room for the labels (automargin) instead of clipping them."""
    return {
        "type": "category",
        "tickmode": "array",
        "tickvals": keys,
        "ticktext": [short_label(n) for n in names],
        "autorange": "reversed",
        "automargin": True,
    }


def _bar_height(count: int) -> int:
    return max(240, 110 + 30 * count)


def daily_delivery_figure(rows: list, title: str = "Daily spend and delivery") -> dict:
    """Spend bars and an impressions line per day; `rows` have date, spend and impressions."""
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
            title,
            xaxis=date_axis(),
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
            xaxis=date_axis(),
            yaxis={
                "title": {"text": "CPM (USD per 1,000 impressions)"},
                "tickprefix": "$",
                "rangemode": "tozero",
            },
        ),
    }


def match_rate_figure(match: dict) -> dict:
    lists = match["lists"]
    keys = [str(i) for i in range(len(lists))]
    names = [item["list_name"] for item in lists]
    words = [
        f"{percent(item['match_rate'])} of {item['identifiers_count']:,}"
        if item["identifiers_count"]
        else "no identifiers sent"
        for item in lists
    ]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Match rate",
                "y": keys,
                "x": [item["match_rate"] * 100 for item in lists],
                "text": words,
                "customdata": [[name, text] for name, text in zip(names, words, strict=True)],
                # beside an empty bar (nothing to write inside), else inside when it fits
                "textposition": ["auto" if item["match_rate"] else "outside" for item in lists],
                "textangle": 0,  # never turned on its side in a short bar (a phone)
                "marker": {"color": COLORS["match"]},
                "hovertemplate": "%{customdata[0]}: %{customdata[1]}<extra></extra>",
            }
        ],
        "layout": _layout(
            f"Match rate per list (overall {percent(match['match_rate'])})",
            xaxis={"title": {"text": "Identifiers matched (%)"}, "range": [0, 100], "ticksuffix": "%"},
            yaxis=_category_axis(keys, names),
            hovermode="closest",
            height=_bar_height(len(lists)),
            margin={"l": 20, "r": 30, "t": 50, "b": 50},
            showlegend=False,
        ),
    }


def campaign_comparison_figures(rows: list[dict]) -> tuple[dict, dict]:
    """(spend and eCPM by campaign, impressions by campaign) for the overview, in the rows' order.

    Horizontal bars: campaign names sit on the vertical axis, where long names get the room they need
    (shortened past LABEL_CHARS, whole in the hover) instead of being clipped under a slanted axis."""
    keys = [str(r["id"]) for r in rows]
    names = [r["name"] for r in rows]
    axis = _category_axis(keys, names)
    height = _bar_height(len(rows))
    spend = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Spend (USD)",
                "y": keys,
                "x": [_f(r["spend"]) for r in rows],
                "customdata": names,
                "marker": {"color": COLORS["spend"]},
                "hovertemplate": "%{customdata}: $%{x:,.2f}<extra>Spend</extra>",
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": "eCPM (USD)",
                "y": keys,
                "x": [_f(r["effective_cpm"]) for r in rows],
                "customdata": names,
                "xaxis": "x2",
                "marker": {"color": COLORS["cpm"], "size": 10, "symbol": "diamond"},
                "hovertemplate": "%{customdata}: $%{x:,.2f}<extra>eCPM</extra>",
            },
        ],
        "layout": _layout(
            "Spend and eCPM by campaign",
            yaxis=axis,
            xaxis={"title": {"text": "Spend (USD)"}, "tickprefix": "$", "rangemode": "tozero"},
            xaxis2={  # the legend names it: a title up here would collide with the chart's title
                "overlaying": "x",
                "side": "top",
                "tickprefix": "$",
                "rangemode": "tozero",
                "showgrid": False,
            },
            hovermode="closest",
            height=height + 70,
            margin={"l": 20, "r": 30, "t": 80, "b": 100},
        ),
    }
    impressions = {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Impressions delivered",
                "y": keys,
                "x": [r["impressions"] for r in rows],
                "customdata": names,
                "marker": {"color": COLORS["impressions"]},
                "hovertemplate": "%{customdata}: %{x:,}<extra></extra>",
            }
        ],
        "layout": _layout(
            "Impressions delivered by campaign",
            yaxis=axis,
            xaxis={"title": {"text": "Impressions"}, "rangemode": "tozero"},
            hovermode="closest",
            height=height,
            margin={"l": 20, "r": 30, "t": 50, "b": 50},
            showlegend=False,
        ),
    }
    return spend, impressions
