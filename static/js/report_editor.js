// The report editor: autosave to the server a few seconds after a change, macro expansion (.name then space or Tab,
// and every pending one on leaving a section and before a save or a signature), template switching, and a save
// before the preliminary and final buttons submit (what is signed is what is shown).
// Each save names the revision its text was based on; when another tab or workstation saved meanwhile the server
// refuses it (409) and the page shows both texts, section by section, until the user keeps one: nothing is lost.
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
  var tokenPattern = form.dataset.macroToken; // reporting.macros.TOKEN_PATTERN: what counts as a .name token
  var revisionInputs = document.querySelectorAll("input[name=revision]"); // this form's and the signing forms'
  var conflictBox = document.getElementById("report-conflict");
  var conflictSections = document.getElementById("conflict-sections");
  var timer = null;
  var dirty = false;
  var inFlight = null; // the Promise of the save under way
  var conflict = conflictBox.hidden ? null : { revision: null, sections: null }; // a stale save awaiting a choice

  function show(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function csrfToken() {
    return form.querySelector("input[name=csrfmiddlewaretoken]").value;
  }

  function setRevision(revision) {
    revisionInputs.forEach(function (input) { input.value = String(revision); });
  }

  function areaOf(name) {
    return form.querySelector('textarea[data-section="' + name + '"]');
  }

  // Save now; resolves true when the server has the text that was on screen when the save started.
  function save() {
    if (conflict) {
      show("Not saved: the report was changed elsewhere. Keep your text or the saved one (above).", true);
      return Promise.resolve(false);
    }
    if (inFlight) {
      return inFlight.then(function () { return dirty ? save() : !conflict; });
    }
    clearTimeout(timer);
    dirty = false;
    show("Saving…");
    var sent = {};
    areas.forEach(function (area) { sent[area.dataset.section] = area.value; });
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
          setRevision(result.data.revision);
          stored(result.data.sections, sent);
          show("Saved " + result.data.saved_at_display);
          return true;
        }
        dirty = true;
        if (result.data.conflict) {
          showConflict(result.data.conflict);
          show("Not saved: the report was changed elsewhere. Your text is still here.", true);
          return false;
        }
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

  // The server stores known macros expanded: show that in a section the user is not in and has not changed since.
  function stored(sections, sent) {
    if (!sections) return;
    Object.keys(sent).forEach(function (name) {
      var area = areaOf(name);
      var text = sections[name];
      if (area && text !== undefined && area.value === sent[name] && area.value.replace(/\r\n/g, "\n") !== text &&
          document.activeElement !== area) {
        area.value = text;
      }
    });
  }

  // Both texts of every section that differs, the stored one and the user's; the user's stays in the editor.
  function showConflict(found) {
    conflict = found;
    renderConflict();
    conflictBox.hidden = false;
    conflictBox.scrollIntoView({ block: "start" });
  }

  function renderConflict() {
    if (!conflict || !conflict.sections) return; // shown by the server (no script then): its rows stand
    conflictSections.textContent = "";
    areas.forEach(function (area) {
      var name = area.dataset.section;
      var theirs = conflict.sections[name] || "";
      if (theirs === area.value) return;
      var article = document.createElement("article");
      article.className = "conflict-section";
      article.dataset.section = name;
      var heading = document.createElement("h3");
      heading.textContent = form.querySelector('label[for="' + area.id + '"]').firstChild.textContent.trim();
      var texts = document.createElement("div");
      texts.className = "conflict-texts";
      [["Saved elsewhere", "theirs", theirs], ["Yours, not saved", "mine", area.value]].forEach(function (part) {
        var column = document.createElement("div");
        var title = document.createElement("h4");
        title.textContent = part[0];
        var pre = document.createElement("pre");
        pre.className = part[1];
        pre.textContent = part[2];
        column.appendChild(title);
        column.appendChild(pre);
        texts.appendChild(column);
      });
      article.appendChild(heading);
      article.appendChild(texts);
      conflictSections.appendChild(article);
    });
  }

  function clearConflict() {
    conflict = null;
    conflictBox.hidden = true;
    conflictSections.textContent = "";
  }

  // Keep mine: the user's text, saved again on top of the stored revision.
  document.getElementById("keep-mine").addEventListener("click", function (event) {
    event.preventDefault();
    if (conflict && conflict.revision !== null) setRevision(conflict.revision);
    clearConflict();
    expandAll();
    dirty = true;
    save();
  });

  // Keep theirs: the stored text on screen, the editor now based on its revision.
  document.getElementById("keep-theirs").addEventListener("click", function (event) {
    if (!conflict || !conflict.sections) return; // no script state: the link reloads the editor
    event.preventDefault();
    areas.forEach(function (area) { area.value = conflict.sections[area.dataset.section] || ""; });
    setRevision(conflict.revision);
    clearConflict();
    clearTimeout(timer);
    dirty = false;
    show("The saved text is loaded.");
  });

  function changed() {
    dirty = true;
    if (conflict) {
      renderConflict();
      return; // no autosave until the user keeps one of the texts
    }
    show("Unsaved changes");
    clearTimeout(timer);
    timer = setTimeout(save, DELAY_MS);
  }

  function known(name) {
    return Object.prototype.hasOwnProperty.call(macros, name);
  }

  // The ".name" token ending just before the caret becomes the macro's text.
  function expandMacro(area) {
    var caret = area.selectionStart;
    if (caret !== area.selectionEnd) return false;
    var before = area.value.slice(0, caret);
    var pattern = new RegExp(tokenPattern, "g");
    var match, last = null;
    while ((match = pattern.exec(before)) !== null) last = match;
    if (!last || last.index + last[0].length !== caret || !known(last[1])) return false;
    area.setRangeText(macros[last[1]], last.index, caret, "end");
    return true;
  }

  // Every pending token of a known macro in the section becomes its text (leaving a section, saving, signing).
  function expandPending(area) {
    var text = area.value.replace(new RegExp(tokenPattern, "g"), function (token, name) {
      return known(name) ? macros[name] : token;
    });
    if (text === area.value) return false;
    area.value = text;
    return true;
  }

  function expandAll() {
    var any = false;
    areas.forEach(function (area) { any = expandPending(area) || any; });
    if (any) changed();
  }

  areas.forEach(function (area) {
    area.addEventListener("input", changed);
    area.addEventListener("blur", function () {
      if (expandPending(area)) changed();
    });
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
        areas.forEach(function (area) {
          var text = texts[area.dataset.section] || "";
          // The clinical information (the order's reason) stays unless the template brings its own.
          if (area.dataset.section === "clinical_information" && !text) return;
          area.value = text;
        });
      }
      changed();
    });
  }

  // "Save draft" without waiting; the preliminary and final forms submit only once the draft is saved.
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    expandAll();
    save();
  });
  document.querySelectorAll("form[data-flush]").forEach(function (other) {
    other.addEventListener("submit", function (event) {
      event.preventDefault();
      expandAll();
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
    if (!dirty || conflict) return;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
      credentials: "same-origin",
      keepalive: true,
    });
  });
})();
