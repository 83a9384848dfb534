// The journey editor: draws a journey document (entry, re-entry, goals, steps; docs/journeys.md)
// as forms and edits that JSON in place, so what is posted is exactly what the API takes. Every
// change rewrites the definition textarea and fires "journey-change" on the form; htmx redraws
// the graph (checked by the journeys service) on that event. An error path from the server
// ("definition.steps[2].no") marks that step's field and shows the message beside it.
(function () {
  "use strict";

  var root = document.getElementById("journey-editor");
  if (!root) return;
  var kit = window.NudgeKit, el = kit.el, labelled = kit.labelled, select = kit.select, input = kit.input;
  var form = root.closest("form");
  var output = document.getElementById("f-definition");
  var jsonNote = document.getElementById("json-note");
  var choices = JSON.parse(root.getAttribute("data-choices") || "{}");
  var readonly = root.hasAttribute("data-readonly");
  var serverError = document.getElementById("f-definition-error");
  var errorMessage = serverError ? serverError.firstChild.textContent : "";
  var doc;

  var KINDS = [
    ["wait", "Wait a duration"], ["wait_until", "Wait until a local time"],
    ["wait_for_event", "Wait for an event"], ["branch", "Branch on a condition"],
    ["split", "Random split"], ["send", "Send a message"],
    ["update_attribute", "Update an attribute"], ["exit", "Exit"]
  ];
  var ENTRIES = [["event", "An event happens"], ["segment", "A user joins a segment"], ["api", "Entered through the API"]];
  var CHANNELS = [["push", "Push"], ["email", "Email"], ["in_app", "In-app"], ["webhook", "Webhook"]];
  var FILTER_OPS = ["eq", "neq", "gt", "gte", "lt", "lte", "in", "contains", "exists"];

  function button(text, action, extra, label) {
    var b = el("button", { type: "button", "class": "btn btn-sm " + (extra || "btn-ghost"), text: text });
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", action);
    if (readonly) b.hidden = true;
    return b;
  }

  // Step ids and the edges between them ---------------------------------------------------------

  function ids() { return doc.steps.map(function (s) { return s.id; }); }

  function freshId(type) {
    var n = 1;
    while (ids().indexOf(type + "_" + n) >= 0) n++;
    return type + "_" + n;
  }

  // Every place a step id is named: [holder, key] pairs (the entry, next/yes/no, split paths).
  function references() {
    var refs = [[doc.entry, "next"]];
    doc.steps.forEach(function (s) {
      ["next", "yes", "no"].forEach(function (k) { if (k in s) refs.push([s, k]); });
      (s.paths || []).forEach(function (p) { refs.push([p, "next"]); });
    });
    return refs;
  }

  function retarget(from, to) {
    references().forEach(function (r) { if (r[0][r[1]] === from) r[0][r[1]] = to; });
  }

  // A new step of ``type`` whose every way out goes to ``target``.
  function newStep(type, id, target) {
    var s = { id: id, type: type };
    if (type === "wait") Object.assign(s, { duration: { hours: 1 }, next: target });
    if (type === "wait_until") Object.assign(s, { time: "09:00", next: target });
    if (type === "wait_for_event") Object.assign(s, { event: "", timeout: { hours: 1 }, yes: target, no: target });
    if (type === "branch") Object.assign(s, { definition: { version: 1, match: { all: [] } }, yes: target, no: target });
    if (type === "split") Object.assign(s, { paths: [{ key: "A", percent: 50, next: target }, { key: "B", percent: 50, next: target }] });
    if (type === "send") Object.assign(s, { channel: "push", variants: [{ key: "A", content: { title: "", body: "" } }], next: target });
    if (type === "update_attribute") Object.assign(s, { attribute: "", value: "", next: target });
    return s;
  }

  // The first way out of a step (or of the entry): where a step inserted after it goes.
  function firstTarget(s) {
    if (s.next !== undefined) return s.next;
    if (s.yes !== undefined) return s.yes;
    return s.paths && s.paths.length ? s.paths[0].next : null;
  }

  // The document and its redraw ----------------------------------------------------------------

  function changed() {
    output.value = JSON.stringify(doc, null, 2);
    if (jsonNote) jsonNote.textContent = "";
    form.dispatchEvent(new CustomEvent("journey-change", { bubbles: true }));
  }

  function draw() {
    kit.keepFocus(root, function () {
      root.replaceChildren(drawEntry(), drawRules(), drawSteps());
      if (readonly) root.querySelectorAll("input, select, textarea").forEach(function (c) { c.disabled = true; });
    });
    showError();
  }

  function restructure() { draw(); changed(); }

  function showError() {
    root.querySelectorAll(".journey-field-error").forEach(function (n) { n.remove(); });
    var marked = kit.markError(root, root.getAttribute("data-error-path"));
    if (marked && errorMessage) {
      marked.appendChild(el("p", { "class": "error journey-field-error", role: "alert", text: errorMessage }));
    }
  }

  // Bindings: each control writes one key of a holder -------------------------------------------

  function field(label, control, path) {
    var box = labelled(label, control);
    box.setAttribute("data-path", path);
    return box;
  }

  function text(holder, key, label, path, optional) {
    var i = input("text", holder[key], path);
    i.addEventListener("input", function () {
      if (optional && i.value === "") delete holder[key]; else holder[key] = i.value;
      changed();
    });
    return field(label, i, path);
  }

  function area(holder, key, label, path) {
    var t = el("textarea", { rows: "3", "data-key": path });
    t.value = holder[key] === undefined ? "" : String(holder[key]);
    t.addEventListener("input", function () {
      if (t.value === "") delete holder[key]; else holder[key] = t.value;
      changed();
    });
    return field(label, t, path);
  }

  function number(holder, key, label, path, optional) {
    var i = input("number", holder[key], path, { step: "1", min: "0" });
    i.addEventListener("input", function () {
      var n = Number(i.value);
      if (optional && i.value === "") delete holder[key];
      else holder[key] = i.value.trim() !== "" && isFinite(n) ? n : i.value;
      changed();
    });
    return field(label, i, path);
  }

  function choose(holder, key, label, options, path, after) {
    var s = select(options, holder[key], path);
    s.addEventListener("change", function () {
      holder[key] = s.value;
      if (after) after(); else changed();
    });
    return field(label, s, path);
  }

  // A step id chooser; an id that names no step stays shown so the error can point at it.
  function targetOptions(current) {
    var options = ids().map(function (id) { return [id, id]; });
    if (current !== undefined && ids().indexOf(current) < 0) options.push([current, current + " (no such step)"]);
    return options;
  }

  function target(holder, key, label, path) {
    var box = choose(holder, key, label, targetOptions(holder[key]), path);
    var s = box.querySelector("select");
    s.setAttribute("data-target", "");
    s.refresh = function () {
      s.replaceChildren.apply(s, Array.from(select(targetOptions(holder[key]), holder[key], "").children));
      s.value = holder[key];
    };
    return box;
  }

  // A JSON value edited as text (filters, a branch condition): kept only while it parses.
  function json(holder, key, label, path, fallback) {
    var t = el("textarea", { rows: "2", "class": "json-field", "data-key": path });
    t.value = JSON.stringify(holder[key] === undefined ? fallback : holder[key]);
    t.addEventListener("input", function () {
      try {
        holder[key] = JSON.parse(t.value);
        t.removeAttribute("aria-invalid");
        changed();
      } catch (e) {
        t.setAttribute("aria-invalid", "true");
      }
    });
    return field(label + " (JSON)", t, path);
  }

  function duration(holder, key, label, path) {
    var d = holder[key] || (holder[key] = {});
    var box = el("fieldset", { "class": "seg-row", "data-path": path }, [el("legend", { text: label })]);
    [["days", "Days"], ["hours", "Hours"], ["minutes", "Minutes"]].forEach(function (unit) {
      box.appendChild(number(d, unit[0], unit[1], path + "." + unit[0], true));
    });
    return box;
  }

  function filters(holder, path) {
    var help = "e.g. [{\"property\": \"value\", \"op\": \"gte\", \"value\": 10}]; ops: " + FILTER_OPS.join(", ");
    var box = json(holder, "filters", "Property filters", path + ".filters", []);
    box.appendChild(el("p", { "class": "help", text: help }));
    return box;
  }

  // Entry, re-entry and goals -------------------------------------------------------------------

  function drawEntry() {
    var entry = doc.entry;
    var path = "definition.entry";
    var box = el("fieldset", { "class": "seg-group", "data-path": path }, [el("legend", { text: "Entry" })]);
    var row = el("div", { "class": "seg-row" });
    row.appendChild(choose(entry, "type", "Users enter when", ENTRIES, path + ".type", function () {
      doc.entry = { type: entry.type, next: entry.next };
      if (entry.type === "event") Object.assign(doc.entry, { event: "", filters: [] });
      if (entry.type === "segment") doc.entry.segment_id = "";
      restructure();
    }));
    if (entry.type === "event") row.appendChild(text(entry, "event", "Event", path + ".event"));
    if (entry.type === "segment") row.appendChild(segmentChooser(entry, path));
    row.appendChild(target(entry, "next", "First step", path + ".next"));
    box.appendChild(row);
    if (entry.type === "event") box.appendChild(filters(entry, path));
    box.appendChild(el("div", { "class": "seg-adds" }, [addAfter(doc.entry)]));
    return box;
  }

  function segmentChooser(holder, path) {
    var options = [["", "choose a segment"]].concat((choices.segments || []).map(function (s) { return [s.id, s.name]; }));
    if (holder.segment_id && !options.some(function (o) { return o[0] === holder.segment_id; })) options.push([holder.segment_id, holder.segment_id]);
    return choose(holder, "segment_id", "Segment", options, path + ".segment_id");
  }

  function drawRules() {
    var reentry = doc.reentry || (doc.reentry = { mode: "once" });
    var box = el("fieldset", { "class": "seg-group", "data-path": "definition.reentry" }, [el("legend", { text: "Re-entry, goals and conversion" })]);
    var row = el("div", { "class": "seg-row" });
    row.appendChild(choose(reentry, "mode", "A user may enter", [["once", "once ever"], ["every_n_days", "again after some days"], ["whenever", "again once their last pass ended"]], "definition.reentry.mode", function () {
      if (reentry.mode === "every_n_days") reentry.days = reentry.days || 7; else delete reentry.days;
      restructure();
    }));
    if (reentry.mode === "every_n_days") row.appendChild(number(reentry, "days", "Days between entries", "definition.reentry.days"));
    box.appendChild(row);
    var goals = doc.goals || (doc.goals = []);
    var list = el("ol", { "class": "seg-children" });
    goals.forEach(function (goal, i) {
      var gpath = "definition.goals[" + i + "]";
      var goalRow = el("div", { "class": "seg-row", "data-path": gpath }, [text(goal, "event", "Goal event (reaching it ends the journey)", gpath + ".event")]);
      goalRow.appendChild(button("Remove goal", function () { goals.splice(i, 1); restructure(); }, "btn-ghost btn-danger-text"));
      list.appendChild(el("li", {}, [goalRow]));
    });
    box.appendChild(list);
    box.appendChild(el("div", { "class": "seg-adds" }, [button("+ Goal", function () { goals.push({ event: "" }); restructure(); }, "")]));
    box.appendChild(drawConversion());
    return box;
  }

  // The event that counts as a conversion of the journey's messages (a campaign goal's shape).
  function drawConversion() {
    var path = "definition.conversion";
    var conversion = doc.conversion;
    if (!conversion) {
      return el("div", { "class": "seg-adds" }, [button("+ Conversion event", function () {
        doc.conversion = { event: "", window_hours: 72, after: "delivery" };
        restructure();
      }, "")]);
    }
    var row = el("div", { "class": "seg-row", "data-path": path });
    row.appendChild(text(conversion, "event", "Conversion event (credited to the last message)", path + ".event"));
    row.appendChild(number(conversion, "window_hours", "Within hours", path + ".window_hours"));
    row.appendChild(choose(conversion, "after", "Counted from", [["delivery", "the send"], ["open", "the open"]], path + ".after"));
    row.appendChild(button("Remove conversion", function () { delete doc.conversion; restructure(); }, "btn-ghost btn-danger-text"));
    return row;
  }

  // Steps ---------------------------------------------------------------------------------------

  // "Add a step after": the new step takes over where ``holder`` went, and ``holder`` goes to it.
  function addAfter(holder) {
    var kind = select(KINDS, "wait", "add-after-" + (holder.id || "entry"));
    var add = button("Add step after", function () {
      var old = firstTarget(holder);
      var step = newStep(kind.value, freshId(kind.value), old);
      var at = holder.id ? doc.steps.indexOf(holder) + 1 : 0;
      doc.steps.splice(at, 0, step);
      if (holder.next !== undefined) holder.next = step.id;
      else if (holder.yes !== undefined) holder.yes = step.id;
      else if (holder.paths) holder.paths[0].next = step.id;
      restructure();
    }, "");
    var box = el("div", { "class": "seg-row" }, [labelled("New step", kind), add]);
    if (readonly) box.hidden = true;
    return box;
  }

  function drawSteps() {
    var list = el("ol", { "class": "seg-children journey-steps" });
    doc.steps.forEach(function (step, i) { list.appendChild(el("li", {}, [drawStep(step, i)])); });
    var kind = select(KINDS, "exit", "add-step");
    var adds = el("div", { "class": "seg-row seg-adds" }, [labelled("Step kind", kind), button("+ Step", function () {
      var exit = doc.steps.filter(function (s) { return s.type === "exit"; })[0];
      doc.steps.push(newStep(kind.value, freshId(kind.value), exit ? exit.id : doc.entry.next));
      restructure();
    }, "")]);
    if (readonly) adds.hidden = true;
    return el("div", { "class": "stack" }, [el("h3", { text: "Steps" }), list, adds]);
  }

  function drawStep(step, i) {
    var path = "definition.steps[" + i + "]";
    var box = el("fieldset", { "class": "seg-condition journey-step-editor", "data-path": path, "data-step": step.id });
    box.appendChild(el("legend", { text: "Step " + (i + 1) }));
    var row = el("div", { "class": "seg-row" });
    var idInput = input("text", step.id, path + ".id");
    idInput.addEventListener("input", function () {  // references follow the rename
      retarget(step.id, idInput.value);
      step.id = idInput.value;
      changed();
    });
    // Renamed ids show in every step chooser; no redraw, so a click in progress still lands.
    idInput.addEventListener("input", function () {
      root.querySelectorAll("select[data-target]").forEach(function (t) { t.refresh(); });
    });
    row.appendChild(field("Step id", idInput, path + ".id"));
    row.appendChild(choose(step, "type", "Kind", KINDS, path + ".type", function () {
      doc.steps[i] = newStep(step.type, step.id, firstTarget(step) || doc.entry.next);
      restructure();
    }));
    box.appendChild(row);
    var body = el("div", { "class": "seg-row" });
    box.appendChild(body);  // the step's own fields first, then its larger parts (variants, paths)
    EDITORS[step.type](body, step, path, box);
    var tools = el("div", { "class": "seg-tools" }, [
      button("Up", function () { move(i, -1); }, "", "Move " + step.id + " up"),
      button("Down", function () { move(i, 1); }, "", "Move " + step.id + " down"),
      button("Remove", function () {
        doc.steps.splice(i, 1);
        var after = firstTarget(step);
        if (after) retarget(step.id, after);  // what pointed here now skips it
        restructure();
      }, "btn-ghost btn-danger-text", "Remove " + step.id)
    ]);
    box.appendChild(tools);
    if (step.type !== "exit") box.appendChild(addAfter(step));
    return box;
  }

  function move(i, by) {
    var j = i + by;
    if (j < 0 || j >= doc.steps.length) return;
    var s = doc.steps.splice(i, 1)[0];
    doc.steps.splice(j, 0, s);
    restructure();
  }

  var EDITORS = {
    wait: function (row, step, path, box) {
      box.appendChild(duration(step, "duration", "Wait for", path + ".duration"));
      row.appendChild(target(step, "next", "Then", path + ".next"));
    },
    wait_until: function (row, step, path) {
      // The API stores "09:00:00"; the control shows and writes hours and minutes only.
      var t = input("time", String(step.time || "").slice(0, 5), path + ".time", { step: "60" });
      t.addEventListener("input", function () { step.time = t.value.slice(0, 5); changed(); });
      row.appendChild(field("Until the next (user's local time)", t, path + ".time"));
      row.appendChild(target(step, "next", "Then", path + ".next"));
    },
    wait_for_event: function (row, step, path, box) {
      row.appendChild(text(step, "event", "Event", path + ".event"));
      row.appendChild(target(step, "yes", "If it happens (yes)", path + ".yes"));
      row.appendChild(target(step, "no", "If not by the time-out (no)", path + ".no"));
      box.appendChild(duration(step, "timeout", "Time-out", path + ".timeout"));
      box.appendChild(filters(step, path));
    },
    branch: function (row, step, path, box) {
      var mode = select([["definition", "a condition"], ["segment_id", "a saved segment"]], "segment_id" in step ? "segment_id" : "definition", path + ".mode");
      mode.addEventListener("change", function () {
        delete step.definition;
        delete step.segment_id;
        if (mode.value === "segment_id") step.segment_id = ""; else step.definition = { version: 1, match: { all: [] } };
        restructure();
      });
      row.appendChild(labelled("Users who match", mode));
      if ("segment_id" in step) row.appendChild(segmentChooser(step, path));
      row.appendChild(target(step, "yes", "Yes", path + ".yes"));
      row.appendChild(target(step, "no", "No", path + ".no"));
      if ("definition" in step) {
        var cond = json(step, "definition", "Condition, as a segment definition", path + ".definition", { version: 1, match: { all: [] } });
        box.appendChild(cond);
      }
    },
    split: function (row, step, path, box) {
      var list = el("ol", { "class": "seg-children" });
      step.paths.forEach(function (p, k) {
        var ppath = path + ".paths[" + k + "]";
        var line = el("div", { "class": "seg-row", "data-path": ppath }, [
          text(p, "key", "Path", ppath + ".key"),
          number(p, "percent", "Percent", ppath + ".percent"),
          target(p, "next", "Goes to", ppath + ".next"),
          button("Remove path", function () { step.paths.splice(k, 1); restructure(); }, "btn-ghost btn-danger-text")
        ]);
        list.appendChild(el("li", {}, [line]));
      });
      box.appendChild(list);
      box.appendChild(el("div", { "class": "seg-adds" }, [button("+ Path", function () {
        step.paths.push({ key: String.fromCharCode(65 + step.paths.length), percent: 0, next: step.paths[0].next });
        restructure();
      }, "")]));
      row.appendChild(el("p", { "class": "help", text: "Percentages add up to 100; each user keeps one path." }));
    },
    send: function (row, step, path, box) {
      row.appendChild(choose(step, "channel", "Channel", CHANNELS, path + ".channel", function () {
        var keep = (choices.content_fields || {})[step.channel] || [];
        step.variants.forEach(function (v) {
          Object.keys(v.content).forEach(function (k) { if (keep.indexOf(k) < 0) delete v.content[k]; });
        });
        restructure();
      }));
      row.appendChild(target(step, "next", "Then", path + ".next"));
      step.variants.forEach(function (v, k) {
        var vpath = path + ".variants[" + k + "]";
        var vbox = el("fieldset", { "class": "seg-group", "data-path": vpath }, [el("legend", { text: "Variant " + v.key })]);
        var vrow = el("div", { "class": "seg-row" }, [text(v, "key", "Key", vpath + ".key"), number(v, "weight", "Weight (optional)", vpath + ".weight", true)]);
        if (step.variants.length > 1) vrow.appendChild(button("Remove variant", function () { step.variants.splice(k, 1); restructure(); }, "btn-ghost btn-danger-text"));
        vbox.appendChild(vrow);
        ((choices.content_fields || {})[step.channel] || []).forEach(function (name) {
          var long = name === "body" || name === "html" || name === "text";
          vbox.appendChild((long ? area : text)(v.content, name, name.replace("_", " "), vpath + ".content." + name, true));
        });
        box.appendChild(vbox);
      });
      box.appendChild(el("div", { "class": "seg-adds" }, [button("+ Variant", function () {
        step.variants.push({ key: String.fromCharCode(65 + step.variants.length), content: {} });
        restructure();
      }, "")]));
    },
    update_attribute: function (row, step, path) {
      row.appendChild(text(step, "attribute", "Attribute", path + ".attribute"));
      row.appendChild(json(step, "value", "Value", path + ".value", ""));
      row.appendChild(target(step, "next", "Then", path + ".next"));
    },
    exit: function (row) {
      row.appendChild(el("p", { "class": "muted", text: "Users leave the journey here." }));
    }
  };

  var load = kit.mirrorJson({
    output: output,
    note: jsonNote,
    form: form,
    changeEvent: "journey-change",
    unreadable: "This is not a journey the editor can draw yet.",
    accept: function (d) { return d.entry && Array.isArray(d.steps); },
    use: function (d) { doc = d; },
    redraw: draw,
  });
  // The redrawn graph carries the service's refusal, if any: mark the step and field at fault.
  kit.onServerError("journey-graph", root, function (error) {
    errorMessage = error ? error.textContent : "";
    showError();
  });

  if (!load()) doc = { entry: { type: "api", next: "done" }, steps: [{ id: "done", type: "exit" }] };
  draw();
})();
