// The composer's variants: "Add variant" opens the next hidden slot (up to the API's 16),
// and a line says which share of the audience each variant and the control group get.
(function () {
  "use strict";

  var form = document.getElementById("composer");
  if (!form) return;
  var add = document.getElementById("add-variant");
  var shares = document.getElementById("variant-shares");

  if (add) {
    add.addEventListener("click", function () {
      var next = form.querySelector("fieldset.variant[hidden]");
      if (next) {
        next.hidden = false;
        next.querySelector("input").focus();
      }
      if (!form.querySelector("fieldset.variant[hidden]")) add.hidden = true;
      describe();
    });
  }

  function value(input, fallback) {
    var n = parseFloat(input && input.value);
    return isFinite(n) ? n : fallback;
  }

  // A variant counts once it has content (as the server reads the form); weights default to 1.
  function describe() {
    if (!shares) return;
    var used = Array.prototype.filter.call(form.querySelectorAll("fieldset.variant"), function (slot, index) {
      if (index === 0) return true;
      return Array.prototype.some.call(slot.querySelectorAll("[name*='.content.']"), function (field) {
        return field.value.trim() !== "" && field.closest(".cf").offsetParent !== null;
      });
    });
    var control = Math.min(Math.max(value(form.querySelector("[name='control_percent']"), 0), 0), 100);
    var weights = used.map(function (slot) { return Math.max(value(slot.querySelector("[name$='.weight']"), 1), 0); });
    var total = weights.reduce(function (a, b) { return a + b; }, 0) || 1;
    var parts = used.map(function (slot, i) {
      var key = slot.querySelector("[name$='.key']").value || "?";
      return key + " " + ((100 - control) * weights[i] / total).toFixed(1) + "%";
    });
    if (control) parts.push("control " + control.toFixed(1) + "%");
    shares.textContent = "Audience split: " + parts.join(", ") + ".";
  }

  form.addEventListener("input", describe);
  form.addEventListener("change", describe);
  describe();
})();
