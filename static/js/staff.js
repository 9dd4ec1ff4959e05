// The staff invoice filters (templates/invoices/_filter_form.html). Works without it.
(function () {
  "use strict";

  // A date is searched for once it is a real one. Typing a year in Chromium's date box
  // makes it 0002, 0020, 0202, then 2026, each a "change": those partial years would
  // each flash a red error and fetch a page. A submit (Enter, the Filter button) always
  // goes, so a date that is really wrong still gets the server's message.
  function yearBeingTyped(form) {
    return Array.prototype.some.call(form.querySelectorAll("input[type=date]"), function (input) {
      return input.value !== "" && input.value.charAt(0) === "0";
    });
  }

  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt.closest("form.filters");
    var trigger = event.detail.triggeringEvent;
    if (form && !(trigger && trigger.type === "submit") && yearBeingTyped(form)) {
      event.preventDefault();
    }
  });
})();
