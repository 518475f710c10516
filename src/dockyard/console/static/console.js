// Dockyard console: the metrics tab (uPlot) and a task's log tail that follows.
// No framework; htmx does the polling of page fragments.
"use strict";

const COLORS = ["#2f6fde", "#e5674f", "#12805c", "#b54708", "#7a5af8", "#0e9384"];

function chartOptions(chart, width) {
  return {
    width: width, height: 220,
    scales: { x: { time: true } },
    axes: [{}, { label: chart.unit, size: 60 }],
    series: [{}, ...chart.labels.map((label, k) => ({
      label: label, stroke: COLORS[k % COLORS.length], width: 2, spanGaps: true,
      points: { show: true, size: 4 },
    }))],
  };
}

function startMetrics(root) {
  const grid = root.querySelector(".charts");
  const plots = [];
  async function refresh() {
    let body;
    try {
      const resp = await fetch(root.dataset.url, { credentials: "same-origin" });
      body = await resp.json();
      if (!resp.ok) { root.dataset.error = body.error || resp.status; return; }
    } catch (e) { root.dataset.error = String(e); return; }
    body.charts.forEach((chart, i) => {
      let box = grid.children[i];
      if (!box) {
        box = document.createElement("div");
        box.className = "chart";
        box.dataset.chart = chart.title;
        box.innerHTML = "<h3></h3><p class='nodata'>No data in the last hour.</p><div class='plot'></div>";
        box.querySelector("h3").textContent = chart.title + " (" + chart.unit + ")";
        grid.appendChild(box);
      }
      box.classList.toggle("blank", chart.empty);
      const width = Math.max(box.clientWidth - 16, 320);
      if (plots[i] && plots[i].series.length === chart.data.length) {
        plots[i].setData(chart.data);
      } else {
        if (plots[i]) plots[i].destroy();
        plots[i] = new uPlot(chartOptions(chart, width), chart.data, box.querySelector(".plot"));
      }
    });
    root.dataset.updated = String(Date.now());
  }
  refresh();
  setInterval(refresh, 10000);
}

const MAX_LOG_CHARS = 200000;

function startLogs(pre) {
  const select = document.getElementById("log-container");
  const follow = document.getElementById("log-follow");
  let controller = null;
  async function open() {
    if (controller) controller.abort();
    controller = new AbortController();
    pre.textContent = "";
    const url = pre.dataset.url + "&container=" + encodeURIComponent(select.value)
      + (follow.checked ? "&follow=1" : "");
    try {
      const resp = await fetch(url, { credentials: "same-origin", signal: controller.signal });
      if (!resp.ok) { pre.textContent = await resp.text(); return; }
      pre.dataset.streaming = "1";
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = (pre.textContent + decoder.decode(value, { stream: true })).slice(-MAX_LOG_CHARS);
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      }
    } catch (e) {
      if (e.name !== "AbortError") pre.textContent += "\n[log stream ended: " + e + "]";
    }
  }
  select.addEventListener("change", open);
  follow.addEventListener("change", open);
  open();
}

document.addEventListener("DOMContentLoaded", () => {
  const metrics = document.getElementById("metrics");
  if (metrics) startMetrics(metrics);
  const logs = document.getElementById("logs");
  if (logs) startLogs(logs);
});
