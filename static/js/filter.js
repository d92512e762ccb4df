// Filter a list as the user types: every word must appear (case- and accent-insensitive) in the item's text.
(function () {
  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  document.querySelectorAll("input[data-filter-target]").forEach(function (input) {
    var items = document.querySelectorAll(input.dataset.filterTarget);
    input.addEventListener("input", function () {
      var words = fold(input.value).split(/\s+/).filter(Boolean);
      items.forEach(function (item) {
        var text = fold(item.dataset.filterText || item.textContent);
        item.hidden = !words.every(function (word) { return text.indexOf(word) !== -1; });
      });
    });
  });
})();
