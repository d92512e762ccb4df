// Export batch page: follow the batch's progress until it is done (or failed), then offer its files.
(function () {
  "use strict";
  const box = document.getElementById("batch-progress");
  if (!box) return;
  const labels = { QUEUED: "Queued", RUNNING: "Running", DONE: "Done", FAILED: "Failed" };
  const names = { csv: "Download CSV", "837": "Download X12 837P" };

  function show(state) {
    document.getElementById("batch-bar").value = state.percent;
    document.getElementById("batch-bar").textContent = state.percent + "%";
    document.getElementById("batch-percent").textContent = state.percent;
    document.getElementById("batch-done").textContent = state.claims_done;
    document.getElementById("batch-total").textContent = state.claims_total;
    document.getElementById("batch-status").textContent = labels[state.status] || state.status;
    const error = document.getElementById("batch-error");
    error.textContent = state.error || "";
    error.hidden = !state.error;
    const list = document.getElementById("batch-downloads");
    list.replaceChildren();
    for (const [kind, url] of Object.entries(state.downloads || {})) {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = names[kind] || kind;
      const item = document.createElement("li");
      item.append(link);
      list.append(item);
    }
    return state.status === "QUEUED" || state.status === "RUNNING";
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok && !show(await response.json())) return;
    } catch (error) {
      // the network hiccuped: try again on the next tick
    }
    setTimeout(poll, 1000);
  }

  poll();
})();
