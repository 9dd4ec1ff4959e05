// Print buttons ([data-print]), on every page (base.html): the one binding, so one click
// opens the print dialog once. A static file because the CSP allows no inline script.
(function () {
  "use strict";

  // A button that needs script to work is hidden (the `hidden` attribute) until it can.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-print][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });
})();
