// "Select all" for a list of tick boxes that belong to one form (their form="..." attribute): the box with
// data-select-all="<form id>" ticks or clears every box of that form, and shows when only some are ticked.
(function () {
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var selector = 'input[type="checkbox"][form="' + all.dataset.selectAll + '"]';
    function boxes() { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
    function sync() {
      var ticked = boxes().filter(function (box) { return box.checked; }).length;
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
    }
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
      sync();
    });
    boxes().forEach(function (box) { box.addEventListener("change", sync); });
    all.hidden = boxes().length === 0;
  });
})();
