// The dashboard's own script: small conveniences on top of plain HTML forms and htmx.
// Served from our origin so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";

  // Buttons with data-copy="#id" copy that element's text (API keys, invitation links).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.querySelector("[data-copy-label]");
      if (label) {
        var before = label.textContent;
        label.textContent = "Copied";
        setTimeout(function () { label.textContent = before; }, 1600);
      }
    });
  });

  // Forms with data-confirm ask first (revoking a key, removing a member).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // The workspace switcher closes when focus or a click leaves it.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.switcher[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.switcher[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
})();
