// The admissions queue: tick the countdowns every second and refresh the rows every 15 s.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table) { return; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-due")) - now) / 1000);
      if (left <= 0) {
        el.textContent = "overdue " + Math.floor(-left / 60) + " min";
        el.classList.add("overdue");
      } else {
        el.textContent = Math.floor(left / 60) + ":" + pad(left % 60);
        el.classList.remove("overdue");
      }
    });
    document.querySelectorAll(".age[data-since]").forEach(function (el) {
      el.textContent = Math.floor((now - Date.parse(el.getAttribute("data-since"))) / 60000) + " min";
    });
  }
  function refresh() {
    fetch(table.getAttribute("data-rows-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { document.getElementById("queue-rows").innerHTML = html; tick(); })
      .catch(function () { /* keep the last rows; the next refresh will try again */ });
  }
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, 15000);
})();
