// A subject access export's progress: poll every second and move the bar; once the ZIP is
// ready (or the build failed), reload so the page shows the download link.
(function () {
  "use strict";
  var box = document.getElementById("export-progress");
  if (!box || box.getAttribute("data-finished") === "yes") { return; }
  function poll() {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        var bar = box.querySelector("[data-role='bar']");
        bar.style.width = p.progress + "%";
        bar.setAttribute("aria-valuenow", p.progress);
        bar.textContent = p.progress + "%";
        box.querySelector("[data-role='stage']").textContent = p.stage || p.status;
        if (p.finished) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
