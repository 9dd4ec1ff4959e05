// Small progressive enhancements; every page works without them.
// (No inline scripts anywhere: the Content-Security-Policy allows only files from this site.)
(function () {
  "use strict";

  // aria-busy on an element while its htmx request runs; htmx 2 has no attribute for it.
  // On success the server answers HX-Redirect and htmx keeps the form disabled while the
  // browser leaves, so aria-busy stays too: the request is over only when the page is.
  document.addEventListener("htmx:beforeRequest", function (event) {
    event.detail.elt.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Redirect")) {
      return;
    }
    event.detail.elt.removeAttribute("aria-busy");
  });
  // Print buttons ([data-print]) are static/js/print.js's alone: one binding, one dialog.
})();
