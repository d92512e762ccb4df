// Progress of a long job on its page (a claim export batch, a catalog import): poll the job's status URL until
// the job is no longer queued or running, and show what the JSON says.
//
// Markup: a container [data-progress-url] (the status URL) holding a <progress> (set to `percent`) and elements
// [data-field="name"] showing the JSON's `name`:
//   - a <ul>/<ol>: an object {key: url} becomes a list of links, named by the list's data-labels {key: label};
//   - a <tbody>: a list of rows (lists of cells) becomes table rows;
//   - anything else: its text; with [data-hide-empty] it is hidden while the value is empty.
// The estimate ("about 1 min 5 s left") comes ready made in `eta_text`: ris/progress.py computes it for the page
// and for this script alike.
(function () {
  "use strict";
  const RUNNING = ["QUEUED", "RUNNING"];

  function links(list, value) {
    const labels = JSON.parse(list.dataset.labels || "{}");
    list.replaceChildren();
    for (const [key, url] of Object.entries(value || {})) {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = labels[key] || key;
      const item = document.createElement("li");
      item.append(link);
      list.append(item);
    }
  }

  function rows(body, value) {
    body.replaceChildren();
    for (const cells of value || []) {
      const row = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement("td");
        td.textContent = cell;
        row.append(td);
      }
      body.append(row);
    }
  }

  function show(box, state) {
    const bar = box.querySelector("progress");
    if (bar) {
      bar.value = state.percent;
      bar.textContent = state.percent + "%";
    }
    for (const element of box.querySelectorAll("[data-field]")) {
      const value = state[element.dataset.field];
      if (value === undefined) continue;
      const tag = element.tagName;
      if (tag === "UL" || tag === "OL") {
        links(element, value);
      } else if (tag === "TBODY") {
        rows(element, value);
      } else {
        element.textContent = value === null ? "" : value;
      }
      if (element.hasAttribute("data-hide-empty")) {
        element.hidden = value === null || value === "" || value === 0 || (Array.isArray(value) && !value.length);
      }
    }
    return RUNNING.includes(state.status);
  }

  function follow(box) {
    async function poll() {
      try {
        const response = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
        if (response.ok && !show(box, await response.json())) return;
      } catch (error) {
        // the network hiccuped: try again on the next tick
      }
      setTimeout(poll, 1000);
    }
    poll();
  }

  document.querySelectorAll("[data-progress-url]").forEach(follow);
})();
