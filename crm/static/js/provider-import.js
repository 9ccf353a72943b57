// The directory import's page: poll its progress every second and move the bar; once the
// import has finished, reload so the page shows the row-by-row report.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.getAttribute("data-finished") === "yes") { return; }
  function show(role, text) {
    var el = box.querySelector("[data-role='" + role + "']");
    if (el) { el.textContent = text; }
  }
  function poll() {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        var bar = box.querySelector("[data-role='bar']");
        bar.style.width = p.percent + "%";
        bar.setAttribute("aria-valuenow", p.percent);
        bar.textContent = p.percent + "%";
        show("status", p.status);
        show("processed", p.processed_rows);
        show("created", p.created);
        show("updated", p.updated);
        show("skipped", p.skipped);
        if (p.status !== "queued") { show("waiting", ""); }
        if (p.finished) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
