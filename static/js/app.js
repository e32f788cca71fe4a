// Small behaviours of the dashboard. Loaded as a file (never inline), so a Content-Security-Policy
// without 'unsafe-inline' for scripts works.
"use strict";

// Draws the plotly figure that the server embeds as JSON (json_script) next to its container.
function drawTrend() {
  const data = document.getElementById("trend-data");
  const container = document.getElementById("trend-chart");
  if (!data || !container || typeof window.Plotly === "undefined") {
    return;
  }
  const figure = JSON.parse(data.textContent);
  window.Plotly.newPlot(container, figure.data, figure.layout, {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
  });
}

document.addEventListener("DOMContentLoaded", drawTrend);
