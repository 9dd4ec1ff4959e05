// Print buttons ([data-print]), on every page (base.html): the one binding, so one click
// opens the print dialog once; and the focus on a page's error summary. A static file
// because the CSP allows no inline script.
(function () {
  "use strict";

  // A button that needs script to work is hidden (the `hidden` attribute) until it can;
  // some arrive later, in content htmx swaps in (the payment page's live status).
  function showPrintButtons(root) {
    root.querySelectorAll("[data-print][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    showPrintButtons(document);
    // A form's error summary (templates/invoices/_macros.html) takes the focus on load, so
    // a screen reader reads it and the keyboard starts from its links to the fields.
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  });
  document.addEventListener("htmx:load", function (event) {
    showPrintButtons(event.target.parentNode || document);
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });
})();
