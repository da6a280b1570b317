// Draws every [data-figure] element from the JSON script it names, with plotly.js served locally.
// Runs on page load and after htmx swaps a chart fragment in.
(function () {
  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-figure"));
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      window.Plotly.react(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
    document.body.addEventListener("htmx:afterSettle", function (event) {
      draw(event.detail.elt || document);
    });
  });
})();
