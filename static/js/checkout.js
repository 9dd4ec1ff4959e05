// Small progressive enhancements; every page works without them.
// (No inline scripts anywhere: the Content-Security-Policy allows only files from this site.)
// Words a patient reads come from the templates (data- attributes, <template>), not from here.
(function () {
  "use strict";

  var FRAGMENT_HEADER = "X-Checkout-Fragment";

  // The element an htmx event is about, if it takes only the app's own fragments
  // (data-app-fragments: the Pay form, the payment page's live status).
  function guarded(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest("[data-app-fragments]") : null;
  }

  // Tell the patient what to do: the form stays, its button works again (htmx re-enables
  // hx-disabled-elt when the request ends), and role="alert" says pressing again is safe.
  function showUnreachable(form) {
    var source = form.getAttribute("data-unreachable");
    var region = form.querySelector("#network-error");
    var template = source && document.querySelector(source);
    if (!region || !template) {
      return;
    }
    region.replaceChildren(template.content.cloneNode(true));
    region.hidden = false;
  }

  function hideUnreachable(form) {
    var region = form.querySelector("#network-error");
    if (region) {
      region.hidden = true;
      region.replaceChildren();
    }
  }

  // aria-busy on an element while its htmx request runs; htmx 2 has no attribute for it.
  // On success the server answers HX-Redirect and htmx keeps the form disabled while the
  // browser leaves, so aria-busy stays too: the request is over only when the page is.
  document.addEventListener("htmx:beforeRequest", function (event) {
    event.detail.elt.setAttribute("aria-busy", "true");
    var form = guarded(event);
    if (form && form.hasAttribute("data-unreachable")) {
      hideUnreachable(form);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Redirect")) {
      return;
    }
    event.detail.elt.removeAttribute("aria-busy");
  });
  // Print buttons ([data-print]) are static/js/print.js's alone: one binding, one dialog.

  // An answer that is not the app's own fragment (a proxy's "502 Bad Gateway" page, a
  // captive portal...) is never swapped into the checkout. The app's fragments carry
  // X-Checkout-Fragment; a 204 swaps nothing anyway.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = guarded(event);
    var xhr = event.detail.xhr;
    if (!elt || xhr.status === 204 || xhr.getResponseHeader(FRAGMENT_HEADER) === "1") {
      return;
    }
    event.detail.shouldSwap = false;
    event.detail.isError = false; // handled here; htmx need not log it as an error
    if (elt.hasAttribute("data-unreachable")) {
      showUnreachable(elt);
    }
  });

  // No answer at all: the network failed, or the clinic took longer than hx-request's timeout.
  ["htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var elt = guarded(event);
      if (elt && elt.hasAttribute("data-unreachable")) {
        showUnreachable(elt);
      }
    });
  });

})();
