// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Copy buttons: data-copy="#element-id" copies that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("aria-live", "polite");
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // After htmx swaps a fragment in, move keyboard focus to it so screen readers follow.
  document.addEventListener("htmx:afterSwap", function (event) {
    var focus = event.detail.target.querySelector("[data-autofocus]");
    if (focus) { focus.focus(); }
  });

  // Forms with errors: take keyboard focus to the first invalid field.
  document.addEventListener("DOMContentLoaded", function () {
    var invalid = document.querySelector("[aria-invalid='true']");
    if (invalid) { invalid.focus(); }
  });
})();
