// Small page behaviours shared by the dashboard; htmx does the rest.
document.addEventListener("htmx:responseError", function (event) {
  var target = event.detail.target;
  if (!target) return;
  var text = "The request failed (" + event.detail.xhr.status + ").";
  try {
    var body = JSON.parse(event.detail.xhr.responseText);
    if (body && body.error && body.error.message) text = body.error.message;
  } catch (e) { /* not JSON: keep the generic text */ }
  var note = document.createElement("div");
  note.className = "error";
  note.setAttribute("role", "alert");
  note.textContent = text;
  target.prepend(note);
});
