// Audience builder: the topic combobox (type to filter, arrows, Enter, Escape; chips removable by keyboard),
// the time-window radios that follow what the marketer types, topic sizes refreshed with each estimate, and
// words when the estimate request itself fails. The form's own htmx wiring does the counting.
(function () {
  "use strict";

  function formatRows(n) {
    return Number(n).toLocaleString("en-US") + " rows";
  }

  function initPicker(picker) {
    if (picker.dataset.ready) return;
    picker.dataset.ready = "1";
    var form = document.getElementById("builder-form");
    var input = picker.querySelector("#topic-search");
    var list = picker.querySelector("#topic-listbox");
    var chips = picker.querySelector("#topic-chips");
    var allChip = picker.querySelector("#all-topics");
    var empty = list.querySelector(".opt-empty");
    var status = picker.querySelector("#topic-status");
    var active = -1;

    function options() { return Array.prototype.slice.call(list.querySelectorAll("[role=option]")); }
    function visible() { return options().filter(function (o) { return !o.hidden; }); }
    function selectedCodes() {
      return Array.prototype.map.call(chips.querySelectorAll("input[name=topic_id_prefixes]"), function (i) { return i.value; });
    }
    function announce(text) { status.textContent = text; }
    function countText() {
      var n = selectedCodes().length;
      return n === 0 ? "All topics." : n + (n === 1 ? " topic selected." : " topics selected.");
    }

    function setActive(index) {
      var items = visible();
      options().forEach(function (o) { o.classList.remove("active"); });
      active = items.length ? Math.max(0, Math.min(index, items.length - 1)) : -1;
      if (active < 0) { input.removeAttribute("aria-activedescendant"); return; }
      items[active].classList.add("active");
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function filter() {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var chosen = selectedCodes();
      var shown = 0;
      options().forEach(function (o) {
        var hay = (o.dataset.name + " " + o.dataset.code + " " + o.dataset.category).toLowerCase();
        var match = words.every(function (w) { return hay.indexOf(w) !== -1; });
        o.hidden = !match;
        o.setAttribute("aria-selected", chosen.indexOf(o.dataset.code) !== -1 ? "true" : "false");
        if (match) shown += 1;
      });
      empty.hidden = shown > 0;
    }

    function open() {
      if (!list.hidden) return;
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      filter();
      setActive(0);
    }
    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      options().forEach(function (o) { o.classList.remove("active"); });
      active = -1;
    }

    function changed() {
      allChip.hidden = selectedCodes().length > 0;
      htmx.trigger(form, "change");
    }

    function addChip(code, label) {
      var chip = document.createElement("span");
      chip.className = "chip topic-chip";
      chip.dataset.code = code;
      var hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "topic_id_prefixes"; hidden.value = code;
      var text = document.createElement("span");
      text.textContent = label;
      var remove = document.createElement("button");
      remove.type = "button"; remove.className = "chip-remove"; remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + label);
      chip.appendChild(hidden); chip.appendChild(text); chip.appendChild(remove);
      chips.insertBefore(chip, allChip);
    }

    function removeChip(chip, refocus) {
      var label = chip.querySelector("span").textContent;
      var next = chip.nextElementSibling && chip.nextElementSibling.querySelector(".chip-remove");
      var prev = chip.previousElementSibling && chip.previousElementSibling.querySelector(".chip-remove");
      chip.remove();
      filter();
      changed();
      announce(label + " removed. " + countText());
      if (refocus) (next || prev || input).focus();
    }

    function toggle(option) {
      var code = option.dataset.code;
      var existing = chips.querySelector('.topic-chip[data-code="' + CSS.escape(code) + '"]');
      if (existing) { removeChip(existing, false); return; }
      addChip(code, option.dataset.name);
      filter();
      changed();
      announce(option.dataset.name + " added. " + countText());
    }

    input.addEventListener("input", function () {
      if (list.hidden) open(); else { filter(); setActive(0); }
    });
    input.addEventListener("focus", open);
    input.addEventListener("click", open);
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (list.hidden) { open(); return; }
        setActive(active + (e.key === "ArrowDown" ? 1 : -1));
      } else if ((e.key === "Home" || e.key === "End") && !list.hidden && e.ctrlKey) {
        e.preventDefault();
        setActive(e.key === "Home" ? 0 : visible().length - 1);
      } else if (e.key === "Enter") {
        e.preventDefault(); // never submits the form from here
        var items = visible();
        if (!list.hidden && active >= 0 && items[active]) {
          toggle(items[active]);
          input.value = "";
          filter();
          setActive(visible().indexOf(items[active]));
        } else { open(); }
      } else if (e.key === "Escape") {
        if (!list.hidden) { e.preventDefault(); close(); }
        else if (input.value) { e.preventDefault(); input.value = ""; }
      } else if (e.key === "Backspace" && !input.value) {
        var last = chips.querySelectorAll(".topic-chip .chip-remove");
        if (last.length) { e.preventDefault(); last[last.length - 1].focus(); }
      }
    });
    // typing a search is not a change of the audience: keep it from triggering an estimate
    ["keyup", "change", "input"].forEach(function (name) {
      input.addEventListener(name, function (e) { e.stopPropagation(); });
    });
    list.addEventListener("mousedown", function (e) { e.preventDefault(); }); // keep focus in the input
    list.addEventListener("click", function (e) {
      var option = e.target.closest("[role=option]");
      if (!option) return;
      toggle(option);
      setActive(visible().indexOf(option));
    });
    picker.addEventListener("focusout", function (e) {
      if (!picker.contains(e.relatedTarget)) close();
    });
    chips.addEventListener("click", function (e) {
      var button = e.target.closest(".chip-remove");
      if (button) removeChip(button.closest(".topic-chip"), true);
    });
    chips.addEventListener("keydown", function (e) {
      var button = e.target.closest(".chip-remove");
      if (!button) return;
      if (e.key === "Backspace" || e.key === "Delete") {
        e.preventDefault();
        removeChip(button.closest(".topic-chip"), true);
      } else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        var all = Array.prototype.slice.call(chips.querySelectorAll(".chip-remove"));
        var i = all.indexOf(button) + (e.key === "ArrowRight" ? 1 : -1);
        if (i >= all.length) input.focus(); else if (i >= 0) all[i].focus();
      }
    });
  }

  function updateSizes() {
    var holder = document.getElementById("topic-sizes");
    if (!holder || !holder.dataset.sizes) return;
    var sizes;
    try { sizes = JSON.parse(holder.dataset.sizes); } catch (e) { return; }
    document.querySelectorAll("#topic-listbox .opt-size").forEach(function (el) {
      var n = sizes[el.dataset.code];
      el.textContent = n === undefined ? "" : formatRows(n);
    });
  }

  // Typing a date means "use the date range"; typing a number of days means "use the last days".
  function followWindow(e) {
    var kind = e.target.dataset && e.target.dataset.window;
    if (!kind) return;
    var radio = document.getElementById(kind === "range" ? "window-range" : "window-lookback");
    if (radio && !radio.checked) radio.checked = true;
  }

  function estimateFailed(e) {
    var elt = e.detail.elt;
    if (!elt || (elt.id !== "builder-form" && elt.id !== "estimate")) return;
    var estimate = document.getElementById("estimate");
    if (!estimate) return;
    var offline = e.type === "htmx:sendError";
    var message = offline
      ? "The estimate could not be counted: the server did not answer (check your connection). Your choices are kept; change anything to try again."
      : "The estimate could not be counted because of a problem on our side. Your choices are kept; change anything or wait a moment to try again.";
    estimate.innerHTML = "";
    var note = document.createElement("div");
    note.className = "error"; note.id = "estimate-error"; note.setAttribute("role", "alert");
    note.textContent = message;
    estimate.appendChild(note);
    var preview = document.getElementById("preview");
    if (preview) {
      preview.innerHTML = '<p class="muted" id="preview-blocked">No preview until the estimate can be counted.</p>';
    }
  }

  function init(root) {
    var picker = (root || document).querySelector ? (root || document).querySelector("#topic-picker") : null;
    if (picker) initPicker(picker);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    var form = document.getElementById("builder-form");
    if (form) {
      form.addEventListener("input", followWindow, true);
    }
  });
  document.addEventListener("htmx:afterSettle", function () { init(document); updateSizes(); });
  document.addEventListener("htmx:oobAfterSwap", updateSizes);
  document.addEventListener("htmx:responseError", estimateFailed);
  document.addEventListener("htmx:sendError", estimateFailed);
})();
