// Small page behaviours shared by the dashboard; htmx does the rest. No inline scripts (the CSP forbids them).
(function () {
  "use strict";

  // A message in the toast region (base.html): errors are alerts, confirmations are polite status updates.
  function toast(text, kind) {
    var region = document.getElementById("toasts");
    if (!region) return;
    var note = document.createElement("div");
    note.className = "toast " + (kind || "error");
    note.setAttribute("role", kind === "ok" ? "status" : "alert");
    var words = document.createElement("span");
    words.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss message");
    close.textContent = "×";
    close.addEventListener("click", function () { note.remove(); });
    note.appendChild(words);
    note.appendChild(close);
    region.appendChild(note);
    setTimeout(function () { note.remove(); }, kind === "ok" ? 4000 : 12000);
  }
  window.delivrToast = toast;

  // The words of a failed htmx response: the API's {"error": {"message"}}, the error page's
  // data-error-message (errors/message.html), else a sentence with the status.
  function errorText(xhr) {
    var text = xhr.status === 0 ? "The server could not be reached. Check your connection and try again."
      : "The request failed (" + xhr.status + "). Try again in a few seconds.";
    var body = xhr.responseText || "";
    try {
      var json = JSON.parse(body);
      if (json && json.error && json.error.message) return json.error.message;
    } catch (e) { /* not JSON */ }
    var match = body.match(/data-error-message="([^"]*)"/);
    if (match) {
      var el = document.createElement("textarea");
      el.innerHTML = match[1];  // decodes the HTML entities of the attribute
      return el.value;
    }
    return text;
  }

  document.addEventListener("htmx:responseError", function (event) {
    toast(errorText(event.detail.xhr), "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached. Check your connection and try again.", "error");
  });

  // Copy buttons ({% copy_button %} / {% copy_id %}): copy data-copy, or the text of data-copy-target.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return Promise.resolve(legacyCopy(text));
  }
  function legacyCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { area.remove(); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    if (text === null) {
      var source = document.querySelector(button.getAttribute("data-copy-target"));
      text = source ? (source.value !== undefined && source.tagName !== "PRE" && source.tagName !== "CODE" ? source.value : source.textContent) : "";
    }
    copyText(text).then(function () {
      var original = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", original);
      button.textContent = "Copied";
      button.classList.add("copied");
      var live = document.getElementById("live-status");
      if (live) live.textContent = "Copied to the clipboard.";
      setTimeout(function () {
        button.textContent = original;
        button.classList.remove("copied");
        if (live) live.textContent = "";
      }, 2000);
    });
  });

  // Tables that scroll inside their card are keyboard-reachable regions named after their card's heading
  // (a keyboard user could not scroll them otherwise; axe: scrollable-region-focusable).
  function labelScrollRegions(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll(".table-scroll") : []);
    if (root.matches && root.matches(".table-scroll")) found.push(root);
    found.forEach(function (el) {
      if (el.hasAttribute("tabindex")) return;
      el.setAttribute("tabindex", "0");
      if (!el.hasAttribute("role")) el.setAttribute("role", "region");
      if (!el.hasAttribute("aria-label") && !el.hasAttribute("aria-labelledby")) {
        var card = el.closest("section, .card");
        var heading = card && card.querySelector("h1, h2, h3");
        el.setAttribute("aria-label", heading ? heading.textContent.trim() : "Table");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    labelScrollRegions(document);
    // on a phone the navigation is a strip that scrolls sideways: keep the current page's link in view
    var current = document.querySelector(".mainnav [aria-current=page]");
    if (current && current.parentNode.scrollWidth > current.parentNode.clientWidth) {
      current.parentNode.scrollLeft = current.offsetLeft - 16;
    }
  });
  document.addEventListener("htmx:load", function (event) { labelScrollRegions(event.detail.elt); });
})();

// Export mapping form: targets are picked from the destination's own fields, sources from the audience's
// columns. When a list arrives (a <template id="target-options"> or <template id="source-options"> swapped in by
// htmx, after the destination or the audience changed), every row's select of that column gets the new options
// and keeps its value (kept as a last option when the new list lacks it); a "free" list (no fields to offer, or
// an audience whose data cannot be read) turns the selects into text inputs. Picking a target fills the row's
// type, max length and picklist from what the destination says about it, unless the person already set them.
(function () {
  var KINDS = {
    "target-options": {cell: "Target", name: "target", aria: "Target field", missing: " (not in the list)"},
    // a column is found in any case (the service does the same); a destination's field names are exact
    "source-options": {cell: "Source", name: "source", aria: "Source column", missing: " (not in this audience)",
                       caseless: true}
  };
  function swapOptions(template, kind) {
    var free = template.dataset.state === "free";
    document.querySelectorAll("#mapping-rows td[data-label=" + kind.cell + "]").forEach(function (cell) {
      var old = cell.querySelector("select, input:not([type=hidden])");
      if (!old) return;
      var value = old.value;
      var next;
      if (free) {
        if (old.tagName === "INPUT") return;  // already typed: nothing to change
        next = document.createElement("input");
        next.className = kind.name + "-input";
        next.setAttribute("value", value);
      } else {
        next = document.createElement("select");
        next.className = kind.name + "-select";
        next.innerHTML = template.innerHTML;
        var same = Array.prototype.find.call(next.options, function (o) {
          return kind.caseless ? o.value.toLowerCase() === value.toLowerCase() : o.value === value;
        });
        if (same) {
          value = same.value;
        } else if (value) {
          var keep = document.createElement("option");
          keep.value = value;
          keep.textContent = value + kind.missing;
          next.appendChild(keep);
        }
        next.value = value;
      }
      next.name = old.name;
      next.setAttribute("aria-label", kind.aria);
      old.replaceWith(next);
    });
    template.remove();
  }
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(KINDS).forEach(function (id) {
      var template = document.getElementById(id);
      if (template) swapOptions(template, KINDS[id]);
    });
  });
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.classList || !select.classList.contains("target-select")) return;
    var option = select.selectedOptions[0];
    var row = select.closest("tr");
    if (!option || !row || !option.value) return;
    function field(suffix) { return row.querySelector("[name$='-" + suffix + "']"); }
    if (option.dataset.type) field("type").value = option.dataset.type;
    if (option.dataset.maxLength && !field("max_length").value) field("max_length").value = option.dataset.maxLength;
    if (option.dataset.picklist && !field("picklist").value) field("picklist").value = option.dataset.picklist;
    if (option.dataset.multi) field("multi_value").checked = true;
    if (option.dataset.required) field("required").checked = true;
  });
})();

// Behaviours that were inline handlers (onclick/onsubmit), which the Content-Security-Policy forbids:
// data-remove-closest="<selector>" removes that ancestor (a mapping or filter row) and, with
// data-then-change="<form selector>", tells that form it changed. Confirmations are htmx's hx-confirm.
(function () {
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-remove-closest]");
    if (!button) return;
    var row = button.closest(button.getAttribute("data-remove-closest"));
    var form = button.getAttribute("data-then-change");
    if (row) row.remove();
    if (window.delivrFilters) window.delivrFilters.sync();
    if (form && window.htmx) window.htmx.trigger(form, "change");
  });
})();

// Audience builder filters (templates/audiences/partials/filters.html): "Add condition" adds to the last group,
// or a first group when there is none; "Groups combine" shows from two groups; a group left without conditions
// goes (after a removal by data-remove-closest, and after each htmx swap).
(function () {
  window.delivrFilters = window.delivrFilters || {
    sync: function () {
      document.querySelectorAll("#filter-groups .filter-group").forEach(function (g) {
        if (!g.querySelector(".filter-row")) g.remove();
      });
      var top = document.getElementById("filters-top");
      if (top) top.hidden = document.querySelectorAll("#filter-groups .filter-group").length < 2;
    }
  };
  document.addEventListener("htmx:afterSettle", function () { window.delivrFilters.sync(); });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-add-condition]");
    if (!button) return;
    var add = document.querySelector("#filter-groups .filter-group:last-child .add-condition");
    if (add) add.click();
    else if (window.htmx) {
      // the new group and its row take the next formset indices (the server answers with the new totals)
      var values = {};
      document.querySelectorAll("#filters-management input").forEach(function (i) { values[i.name] = i.value; });
      window.htmx.ajax("GET", button.getAttribute("data-add-condition"), { target: "#filter-groups", swap: "beforeend", values: values });
    }
  });
})();
