// Draws each report's charts from the data-chart attribute its canvas carries (our CSP allows
// no inline script), with the vendored Chart.js. A click on a bar opens the leads it counts.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var colours = ["#1f6fb2", "#9aa5b1", "#2e8b57", "#c0392b", "#8e44ad", "#d35400"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var spec = JSON.parse(canvas.getAttribute("data-chart"));
    var datasets = spec.series.map(function (s, i) {
      return { label: s.label, data: s.values, links: s.links, backgroundColor: colours[i % colours.length], borderColor: colours[i % colours.length] };
    });
    var chart = new window.Chart(canvas, {
      type: spec.kind === "line" ? "line" : "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 }, stacked: spec.kind === "stacked" }, x: { stacked: spec.kind === "stacked" } },
        onHover: function (event, elements) {
          var link = elements.length && datasets[elements[0].datasetIndex].links;
          event.native.target.style.cursor = link && link[elements[0].index] ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) { return; }
          var links = datasets[elements[0].datasetIndex].links;
          var href = links && links[elements[0].index];
          if (href) { window.location.assign(href); }
        }
      }
    });
    canvas.setAttribute("data-drawn", String(chart.data.labels.length));
  });
  // The heat map: a cell's shade grows with its figure, relative to the largest.
  document.querySelectorAll("table.report-heatmap").forEach(function (table) {
    var cells = table.querySelectorAll("td[data-heat]");
    var max = 0;
    cells.forEach(function (td) { max = Math.max(max, parseFloat(td.getAttribute("data-heat"))); });
    cells.forEach(function (td) {
      var share = max > 0 ? parseFloat(td.getAttribute("data-heat")) / max : 0;
      td.style.backgroundColor = "rgba(192, 57, 43, " + (0.1 + 0.6 * share).toFixed(2) + ")";
    });
  });
})();
// Typing a date means a custom range: switch the period's preset to "Custom" so it is used.
(function () {
  "use strict";
  document.querySelectorAll("form.report-period").forEach(function (form) {
    var preset = form.querySelector("select[name=preset]");
    form.querySelectorAll("input[type=date]").forEach(function (input) {
      input.addEventListener("change", function () { if (preset) { preset.value = "custom"; } });
    });
  });
})();
