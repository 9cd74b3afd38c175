/* Key figures: draw the charts from the specs the server renders (json_script "kpi-charts").
   Every chart has its table right below it; the charts add nothing the tables do not say. */
(function () {
  "use strict";

  function dataset(spec, d) {
    var colour = d.colors || d.color;
    return {
      label: d.label, data: d.data, backgroundColor: colour, borderColor: d.color || colour,
      borderWidth: spec.type === "line" ? 2 : 0, tension: 0.25, fill: false,
      pointRadius: spec.labels.length > 24 ? 0 : 3, maxBarThickness: 48
    };
  }

  function draw() {
    var source = document.getElementById("kpi-charts");
    if (!source || typeof window.Chart === "undefined") { return; }
    var specs = JSON.parse(source.textContent);
    var Chart = window.Chart;
    Chart.defaults.font.family = window.getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#343a40";
    Object.keys(specs).forEach(function (id) {
      var canvas = document.getElementById(id);
      var spec = specs[id];
      if (!canvas || !spec) { return; }
      var stacked = !!spec.stacked;
      var scale = { stacked: stacked, beginAtZero: true, ticks: { precision: 0 }, grid: { color: "#e9ecef" } };
      var category = { stacked: stacked, grid: { display: false },
                       ticks: { autoSkip: !spec.horizontal, maxRotation: 0 } };
      new Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: spec.datasets.map(function (d) { return dataset(spec, d); }) },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          indexAxis: spec.horizontal ? "y" : "x",
          plugins: { legend: { display: spec.datasets.length > 1, position: "bottom" } },
          scales: spec.horizontal ? { x: scale, y: category } : { x: category, y: scale }
        }
      });
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
