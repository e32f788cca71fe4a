// Small behaviours of the dashboard. Loaded as a file (never inline), so a Content-Security-Policy
// without 'unsafe-inline' for scripts works.
"use strict";

const PLOT_CONFIG = {
  responsive: true,
  displaylogo: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d"],
};

// Draws every chart container not drawn yet: an element whose data-figure attribute is the id of
// the json_script element that contains its plotly figure. Runs on page load and after each htmx
// swap, so a partial that brings a new chart gets it drawn.
function drawCharts() {
  if (typeof window.Plotly === "undefined") {
    return;
  }
  for (const container of document.querySelectorAll("[data-figure]")) {
    // plotly sets _fullLayout on the element it drew. A page that htmx put back from its history
    // cache has the old chart's markup without it, so that chart is drawn again from scratch.
    if (container._fullLayout) {
      continue;
    }
    const data = document.getElementById(container.dataset.figure);
    if (!data) {
      continue;
    }
    const figure = JSON.parse(data.textContent);
    container.replaceChildren();
    window.Plotly.newPlot(container, figure.data, figure.layout, PLOT_CONFIG);
  }
}

// Releases the charts that a swap is about to remove (plotly keeps a resize listener per chart).
function releaseCharts(event) {
  if (typeof window.Plotly === "undefined") {
    return;
  }
  for (const container of event.detail.target.querySelectorAll("[data-figure]")) {
    window.Plotly.purge(container);
  }
}

document.addEventListener("DOMContentLoaded", drawCharts);
document.addEventListener("htmx:beforeSwap", releaseCharts);
document.addEventListener("htmx:afterSettle", drawCharts);
document.addEventListener("htmx:historyRestore", drawCharts);
