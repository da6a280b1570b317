// Draws every [data-figure] element from the JSON script it names, with plotly.js served locally.
// Runs on page load and after htmx swaps a chart fragment in. On a narrow screen (a phone) titles and long
// axis titles wrap onto more lines and category labels get shorter, so nothing is cut off or drawn over
// (tests/e2e/test_campaigns.py checks every text's box on a phone and a desktop).
(function () {
  var NARROW = 560;
  var SHORT_LABEL = 16;
  var AXIS_TITLE = 20;

  function wrap(text, width) {
    var lines = [], line = "";
    text.split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) lines.push(line);
    return lines;
  }

  function shorten(label) {
    return label.length > SHORT_LABEL ? label.slice(0, SHORT_LABEL - 1).trim() + "…" : label;
  }

  function adapt(layout, width) {
    if (width >= NARROW) return layout;
    var narrow = JSON.parse(JSON.stringify(layout));
    if (narrow.title && narrow.title.text) {
      var lines = wrap(narrow.title.text, Math.max(20, Math.floor(width / 8)));
      narrow.title.text = lines.join("<br>");
      narrow.margin = narrow.margin || {};
      narrow.margin.t = (narrow.margin.t || 50) + 18 * (lines.length - 1);
      narrow.height = (narrow.height || 360) + 18 * (lines.length - 1);
    }
    Object.keys(narrow).forEach(function (key) {
      var axis = narrow[key];
      if (!/^[xy]axis\d*$/.test(key) || !axis) return;
      if (axis.ticktext) axis.ticktext = axis.ticktext.map(shorten);
      // a long title up the side ("CPM (USD per 1,000 impressions)") takes two lines, with the room it needs
      if (key[0] === "y" && axis.title && axis.title.text && axis.title.text.length > AXIS_TITLE) {
        axis.title.text = wrap(axis.title.text, AXIS_TITLE).join("<br>");
        axis.automargin = true;
      }
    });
    return narrow;
  }

  function isNarrow(el) { return (el.clientWidth || window.innerWidth) < NARROW; }

  function drawOne(el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source) return;
    var figure = JSON.parse(source.textContent);
    el.dataset.narrow = isNarrow(el) ? "1" : "";
    var layout = adapt(figure.layout, el.clientWidth || window.innerWidth);
    window.Plotly.react(el, figure.data, layout, { responsive: true, displaylogo: false });
  }

  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-figure]").forEach(drawOne);
  }

  // plotly's responsive mode resizes a chart but keeps its layout: a chart drawn wide and then shown on a
  // narrow screen (a phone turned, a window made smaller) is drawn again with the narrow layout, and back.
  var pending = null;
  function redrawCrossed() {
    pending = null;
    if (!window.Plotly) return;
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      if ((el.dataset.narrow === "1") !== isNarrow(el)) drawOne(el);
    });
  }
  window.addEventListener("resize", function () {
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(redrawCrossed, 150);
  });

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
    document.body.addEventListener("htmx:afterSettle", function (event) {
      draw(event.detail.elt || document);
    });
  });
})();
