// Small DOM helpers the JSON editors share (the segment builder, the journey editor): they
// build labelled controls whose "data-key" names what they edit, so a redraw can put the focus
// back, and mark the node an API error path ("definition.steps[0].no") points at.
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // Labels point at their control by id: wrapping a select would put its options in its name.
  var serial = 0;
  function labelled(text, control) {
    control.id = "kit-" + (++serial);
    return el("div", { "class": "seg-field" }, [el("label", { "for": control.id, text: text }), control]);
  }

  function select(options, current, key) {
    var s = el("select", { "data-key": key });
    options.forEach(function (o) {
      var option = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(current)) option.selected = true;
      s.appendChild(option);
    });
    return s;
  }

  function input(type, value, key, attrs) {
    var i = el("input", Object.assign({ type: type, "data-key": key }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    return i;
  }

  // Redraws lose the focused control; the one with the same data-key gets it back.
  function keepFocus(root, redraw) {
    var focused = document.activeElement && document.activeElement.getAttribute("data-key");
    redraw();
    if (focused) {
      var again = root.querySelector('[data-key="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  // The deepest [data-path] node the error path starts with gets the class "seg-invalid".
  function markError(root, path) {
    root.querySelectorAll(".seg-invalid").forEach(function (n) { n.classList.remove("seg-invalid"); });
    if (!path) return null;
    var best = null;
    root.querySelectorAll("[data-path]").forEach(function (n) {
      var p = n.getAttribute("data-path");
      var prefix = path === p || path.indexOf(p + ".") === 0 || path.indexOf(p + "[") === 0;
      if (prefix && (!best || p.length > best.getAttribute("data-path").length)) best = n;
    });
    if (best) best.classList.add("seg-invalid");
    return best;
  }

  // The JSON view is the editor's document as text: an edit there that parses to a document
  // the editor can draw (``accept``) replaces it (``use``) and redraws; otherwise ``note`` says
  // so. Either way the form hears ``changeEvent`` (the server checks and redraws what it can).
  // Returns the loader, for the first document.
  function mirrorJson(options) {
    function load() {
      try {
        var parsed = JSON.parse(options.output.value);
        if (!parsed || typeof parsed !== "object" || !options.accept(parsed)) return false;
        options.use(parsed);
        return true;
      } catch (e) {
        return false;
      }
    }
    options.output.addEventListener("input", function () {
      if (load()) {
        options.redraw();
        if (options.note) options.note.textContent = "";
      } else if (options.note) {
        options.note.textContent = options.unreadable;
      }
      options.form.dispatchEvent(new CustomEvent(options.changeEvent, { bubbles: true }));
    });
    return load;
  }

  // An answer htmx swaps into #targetId may carry the path of the node at fault
  // ([data-error-path]): keep it on ``root`` and hand the error element to ``show``.
  function onServerError(targetId, root, show) {
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target.id !== targetId) return;
      var error = event.target.querySelector("[data-error-path]");
      root.setAttribute("data-error-path", error ? error.getAttribute("data-error-path") : "");
      show(error);
    });
  }

  window.NudgeKit = {
    el: el, labelled: labelled, select: select, input: input, keepFocus: keepFocus, markError: markError,
    mirrorJson: mirrorJson, onServerError: onServerError,
  };
})();
