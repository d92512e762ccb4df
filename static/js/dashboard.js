// Department dashboard: draw the figures of the page's json_script data (#dashboard-data) with the vendored
// Chart.js (static/vendor/chartjs). The tables beside the charts hold the same numbers, for reading and for
// screen readers; the charts add nothing the tables do not say.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const Chart = window.Chart;

  // One colour per modality, the same in every chart; "All" in grey.
  const MODALITY_COLOURS = {
    CT: "#0b5cab", MR: "#7a3fb0", US: "#1b8a5a", DX: "#c98a00", CR: "#b5552b", MG: "#c2407a",
    NM: "#3d7f8c", PT: "#8c6d3d", XA: "#5a6b7d", RF: "#9a3d3d", All: "#5b6775",
  };
  const SPARE = ["#2f7ed8", "#8bbc21", "#910000", "#1aadce", "#492970", "#f28f43"];
  function colourOf(label, index) {
    return MODALITY_COLOURS[label] || SPARE[index % SPARE.length];
  }

  Chart.defaults.animation = false; // drawn at once: the page is read, not watched
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = "#1d2733";

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }

  function axisTitle(text) {
    return { display: true, text: text };
  }

  function percentTicks(value) {
    return value + "%";
  }

  // Turnaround: median and 90th percentile of both turnarounds per modality, in hours.
  const turnaround = data.turnaround;
  draw("chart-turnaround", {
    type: "bar",
    data: {
      labels: turnaround.labels,
      datasets: [
        { label: "Order → exam, median", data: turnaround.orderToExam.median, backgroundColor: "#0b5cab" },
        { label: "Order → exam, P90", data: turnaround.orderToExam.p90, backgroundColor: "#8fb7e0" },
        { label: "Exam → final, median", data: turnaround.examToFinal.median, backgroundColor: "#1b8a5a" },
        { label: "Exam → final, P90", data: turnaround.examToFinal.p90, backgroundColor: "#9ed2b9" },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: axisTitle("hours") } } },
  });

  // Exams performed per day, stacked by modality.
  draw("chart-per-day", {
    type: "bar",
    data: {
      labels: data.perDay.labels,
      datasets: data.perDay.series.map(function (series, index) {
        return { label: series.label, data: series.data, backgroundColor: colourOf(series.label, index) };
      }),
    },
    options: {
      scales: {
        x: { stacked: true, ticks: { maxRotation: 60, autoSkip: true } },
        y: { stacked: true, beginAtZero: true, title: axisTitle("exams"), ticks: { precision: 0 } },
      },
    },
  });

  // Room utilisation: booked over open minutes, one horizontal bar per room.
  draw("chart-rooms", {
    type: "bar",
    data: {
      labels: data.rooms.labels,
      datasets: [{ label: "Utilisation", data: data.rooms.percent, backgroundColor: "#0b5cab" }],
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, suggestedMax: 100, title: axisTitle("% of open minutes booked"), ticks: { callback: percentTicks } } },
    },
  });

  // No-show rate per modality, and over all.
  draw("chart-no-show", {
    type: "bar",
    data: {
      labels: data.noShow.labels,
      datasets: [
        {
          label: "No-show rate",
          data: data.noShow.percent,
          backgroundColor: data.noShow.labels.map(colourOf),
        },
      ],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, title: axisTitle("% of exams due"), ticks: { callback: percentTicks } } },
    },
  });
})();
