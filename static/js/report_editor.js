// The report editor: autosave to the server a few seconds after a change, macro expansion (.name then space or Tab),
// template switching, and a save before the preliminary and final buttons submit (what is signed is what is shown).
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  if (!form) return;
  var DELAY_MS = 3000;
  var status = document.getElementById("save-status");
  var areas = form.querySelectorAll("textarea[data-section]");
  var templateSelect = form.querySelector("select[name=template]");
  var macros = JSON.parse(document.getElementById("report-macros").textContent);
  var templates = JSON.parse(document.getElementById("report-templates").textContent);
  var timer = null;
  var dirty = false;
  var inFlight = null; // the Promise of the save under way

  function show(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function csrfToken() {
    return form.querySelector("input[name=csrfmiddlewaretoken]").value;
  }

  // Save now; resolves true when the server has the text that was on screen when the save started.
  function save() {
    if (inFlight) {
      return inFlight.then(function () { return dirty ? save() : true; });
    }
    clearTimeout(timer);
    dirty = false;
    show("Saving…");
    inFlight = fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch", Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(
          function (data) { return { ok: response.ok, data: data }; },
          function () { return { ok: false, data: { error: "The server did not answer (HTTP " + response.status + ")." } }; }
        );
      })
      .then(function (result) {
        if (result.ok) {
          show("Saved " + result.data.saved_at_display);
          return true;
        }
        dirty = true;
        show("Not saved: " + result.data.error, true);
        return false;
      })
      .catch(function () {
        dirty = true;
        show("Not saved: the server cannot be reached. Your text is still here; it will be saved again.", true);
        return false;
      })
      .finally(function () { inFlight = null; });
    return inFlight;
  }

  function changed() {
    dirty = true;
    show("Unsaved changes");
    clearTimeout(timer);
    timer = setTimeout(save, DELAY_MS);
  }

  // ".name" just before the caret (at the start of the text or after whitespace) becomes the macro's text.
  function expandMacro(area) {
    var caret = area.selectionStart;
    if (caret !== area.selectionEnd) return false;
    var match = /(^|\s)\.([A-Za-z0-9_-]+)$/.exec(area.value.slice(0, caret));
    if (!match || !Object.prototype.hasOwnProperty.call(macros, match[2])) return false;
    var start = caret - match[2].length - 1;
    area.setRangeText(macros[match[2]], start, caret, "end");
    return true;
  }

  areas.forEach(function (area) {
    area.addEventListener("input", changed);
    area.addEventListener("keydown", function (event) {
      if ((event.key === " " || event.key === "Tab") && !event.altKey && !event.ctrlKey && !event.metaKey) {
        if (expandMacro(area)) {
          if (event.key === "Tab") event.preventDefault(); // Tab only expands; space is typed after the text
          changed();
        }
      }
    });
  });

  if (templateSelect) {
    var chosen = templateSelect.value;
    templateSelect.addEventListener("change", function () {
      var texts = templates[templateSelect.value];
      var written = Array.prototype.some.call(areas, function (area) { return area.value.trim() !== ""; });
      if (texts && written && !window.confirm("Replace the text of every section with this template?")) {
        templateSelect.value = chosen;
        return;
      }
      chosen = templateSelect.value;
      if (texts) {
        areas.forEach(function (area) { area.value = texts[area.dataset.section] || ""; });
      }
      changed();
    });
  }

  // "Save draft" without waiting; the preliminary and final forms submit only once the draft is saved.
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    save();
  });
  document.querySelectorAll("form[data-flush]").forEach(function (other) {
    other.addEventListener("submit", function (event) {
      event.preventDefault();
      save().then(function (saved) {
        if (saved) other.submit();
      });
    });
  });

  // Reading without typing still counts: renew the claim once a minute while the page is in view, so that a
  // colleague is not handed the exam after RIS_READING_CLAIM_MINUTES of careful looking. It is a background
  // request (X-RIS-Background): it does not keep the session alive, so an unattended workstation still signs out.
  var CLAIM_MS = 60000;
  window.setInterval(function () {
    if (document.visibilityState !== "visible") return;
    fetch(form.dataset.keepClaim, {
      method: "POST",
      headers: {
        "X-CSRFToken": csrfToken(),
        "X-Requested-With": "fetch",
        "X-RIS-Background": "1",
        Accept: "application/json",
      },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status === 409) {
        response.json().then(function (body) { show(body.error, true); });
      }
    });
  }, CLAIM_MS);

  // Leaving with a change not yet sent: send it on the way out (keepalive lets the request outlive the page).
  window.addEventListener("pagehide", function () {
    if (!dirty) return;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      credentials: "same-origin",
      keepalive: true,
    });
  });
})();
