// The order form's procedure picker: filter as you type (name, code, CPT, modality), move with the arrow keys,
// choose with Space or Enter, and a summary of what is chosen. Without this script the form is plain grouped
// checkboxes and still works.
(function () {
  var picker = document.getElementById("procedure-picker");
  if (!picker) {
    return;
  }
  var search = picker.querySelector(".picker-search");
  var input = document.getElementById("procedure-filter");
  var list = document.getElementById("procedure-list");
  var count = document.getElementById("procedure-count");
  var chosen = document.getElementById("procedure-chosen");
  var none = document.getElementById("procedure-none");
  var groups = Array.prototype.slice.call(list.querySelectorAll(".picker-group"));
  var items = Array.prototype.slice.call(list.querySelectorAll("li[data-filter-text]"));
  var boxes = items.map(function (item) { return item.querySelector("input[type=checkbox]"); });

  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  var texts = items.map(function (item) { return fold(item.dataset.filterText); });

  function nameOf(box) {
    return box.closest("li").querySelector(".picker-name").textContent;
  }

  function visibleBoxes() {
    return boxes.filter(function (box) { return !box.closest("li").hidden; });
  }

  function applyFilter() {
    var words = fold(input.value).split(/\s+/).filter(Boolean);
    var shown = 0;
    items.forEach(function (item, index) {
      var match = words.every(function (word) { return texts[index].indexOf(word) !== -1; });
      item.hidden = !match;
      if (match) {
        shown += 1;
      }
    });
    groups.forEach(function (group) {
      group.hidden = !group.querySelector("li:not([hidden])");
    });
    none.hidden = shown !== 0;
    count.textContent = words.length
      ? shown + " of " + items.length + " procedures match."
      : items.length + " procedures.";
  }

  function showChosen() {
    var names = boxes.filter(function (box) { return box.checked; }).map(nameOf);
    chosen.textContent = names.length ? "Chosen: " + names.join("; ") + "." : "";
  }

  function focusBox(box) {
    if (box) {
      box.focus();
    }
  }

  input.addEventListener("input", applyFilter);
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" || event.key === "Enter") {
      event.preventDefault(); // Enter in the filter must not submit the order
      focusBox(visibleBoxes()[0]);
    } else if (event.key === "Escape" && input.value) {
      event.preventDefault();
      input.value = "";
      applyFilter();
    }
  });

  list.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[type=checkbox]")) {
      return;
    }
    var shown = visibleBoxes();
    var at = shown.indexOf(box);
    if (event.key === "ArrowDown" || event.key === "ArrowRight") {
      event.preventDefault();
      focusBox(shown[Math.min(at + 1, shown.length - 1)]);
    } else if (event.key === "ArrowUp" || event.key === "ArrowLeft") {
      event.preventDefault();
      if (at <= 0) {
        input.focus();
      } else {
        focusBox(shown[at - 1]);
      }
    } else if (event.key === "Home") {
      event.preventDefault();
      focusBox(shown[0]);
    } else if (event.key === "End") {
      event.preventDefault();
      focusBox(shown[shown.length - 1]);
    } else if (event.key === "Enter") {
      event.preventDefault(); // choose, as Space does, instead of submitting the form
      box.click();
    }
  });
  list.addEventListener("change", showChosen);

  search.hidden = false;
  picker.setAttribute("aria-describedby", "procedure-picker-help");
  applyFilter();
  showChosen();
})();
