// Draws each figure's chart from the JSON the page embeds beside its table (the same rows).
(function () {
  "use strict";
  var palette = ["#2f6fae", "#e07b39", "#3a9e6b", "#b5485d", "#7d62b3", "#c9a227", "#4aa8b8", "#8c8c8c", "#d16ba5", "#5b8c3a"];
  function format(value, kind) {
    if (value === null || value === undefined) { return "—"; }
    if (kind === "pct") { return value.toLocaleString(undefined, {maximumFractionDigits: 1}) + "%"; }
    if (kind === "money") { return value.toLocaleString(undefined, {minimumFractionDigits: 0, maximumFractionDigits: 2}); }
    return value.toLocaleString();
  }
  function draw(canvas) {
    var config = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
    var round = config.type === "doughnut";
    var datasets = config.datasets.map(function (d, i) {
      var color = palette[i % palette.length];
      return {
        label: d.label, data: d.data, kind: d.kind,
        backgroundColor: round ? palette : (config.type === "line" ? color + "33" : color),
        borderColor: round ? "#fff" : color, borderWidth: config.type === "line" ? 2 : 1,
        borderDash: config.type === "line" && i > 0 ? [6, 4] : [], pointRadius: config.labels.length > 40 ? 0 : 2,
        fill: config.type === "line" && i === 0, tension: 0.2
      };
    });
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      indexAxis: config.horizontal ? "y" : "x",
      plugins: {
        legend: {display: datasets.length > 1 || round, position: "bottom"},
        tooltip: {callbacks: {label: function (ctx) { return ctx.dataset.label + ": " + format(ctx.raw, ctx.dataset.kind); }}}
      }
    };
    if (!round) {
      options.scales = {x: {stacked: config.stacked}, y: {stacked: config.stacked, beginAtZero: true}};
    }
    new window.Chart(canvas, {type: config.type, data: {labels: config.labels, datasets: datasets}, options: options});
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
    document.body.dataset.chartsReady = "1";
  });
})();
