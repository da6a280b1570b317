// The campaign filter: typing in the search box narrows the campaign list (by name, any part, any case).
// Chosen campaigns stay chosen while hidden; the status line says how many match.
(function () {
  function setup() {
    var search = document.getElementById("campaign-search");
    var select = document.getElementById("campaign-filter");
    var status = document.getElementById("campaign-search-status");
    if (!search || !select) return;
    // Typing is not a filter change: only the list's own change reloads the charts.
    search.addEventListener("change", function (event) { event.stopPropagation(); });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); select.focus(); }
    });
    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(select.options, function (option) {
        var match = !needle || option.text.toLowerCase().indexOf(needle) !== -1;
        option.hidden = !match;
        if (match) shown += 1;
      });
      status.textContent = needle ? shown + " of " + select.options.length + " campaigns match" : "";
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
})();
