// What the pages used to do in inline handlers (onclick=, onchange=, hx-on), which the
// Content-Security-Policy does not run: a button with data-print prints the page, a select with
// data-autosubmit submits its form, and a form with data-reset-after clears itself and focuses the
// field named there after each htmx request (the POS scan field).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) { event.preventDefault(); window.print(); }
  });
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) { select.form.submit(); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest && event.target.closest("form[data-reset-after]");
    if (!form || form !== event.target) { return; }
    form.reset();
    var field = form.elements[form.dataset.resetAfter];
    if (field) { field.focus(); }
  });
})();
