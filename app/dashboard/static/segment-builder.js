// The segment builder: draws a definition ({"version": 1, "match": node}, docs/segments.md)
// as nested groups of conditions and edits that JSON in place, so what is posted is exactly
// what the API stores. Every change rewrites the definition textarea and fires
// "segment-change" on the form; htmx counts the audience on that event (debounced there).
(function () {
  "use strict";

  var root = document.getElementById("builder");
  if (!root) return;
  var form = root.closest("form");
  var output = document.getElementById("f-definition");
  var jsonNote = document.getElementById("json-note");
  var choices = JSON.parse(root.getAttribute("data-choices") || "{}");
  var readonly = root.hasAttribute("data-readonly");
  var doc;

  var KINDS = [
    ["attribute", "Custom attribute"], ["field", "Profile field"], ["event", "Did an event"],
    ["aggregate", "Total, average, min or max over events"], ["occurrence", "First or last time of an event"],
    ["active", "Active on days"], ["subscription", "Subscription"], ["device", "Has a push device"],
    ["near", "Near a place"], ["message", "Got a message"], ["segment", "In a saved segment"],
    ["random_bucket", "Random slice"]
  ];
  var VALUE_OPS = [
    ["eq", "equals"], ["neq", "does not equal"], ["in", "is one of"], ["not_in", "is none of"],
    ["contains", "contains"], ["starts_with", "starts with"], ["gt", "is greater than"],
    ["gte", "is at least"], ["lt", "is less than"], ["lte", "is at most"], ["between", "is between"],
    ["exists", "exists"], ["not_exists", "does not exist"], ["within_last", "is within the last … days"],
    ["more_than_ago", "is more than … days ago"], ["within_next", "is within the next … days"],
    ["anniversary_within", "has an anniversary within … days"]
  ];
  var NUMBER_OPS = [["eq", "="], ["neq", "≠"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"], ["between", "between"]];
  var DATE_OPS = [
    ["within_last", "within the last … days"], ["more_than_ago", "more than … days ago"],
    ["gt", "after"], ["gte", "on or after"], ["lt", "before"], ["lte", "on or before"], ["between", "between"]
  ];
  var FIELDS = ["external_id", "email", "phone", "timezone", "locale", "country", "region", "city",
    "first_name", "last_name", "latitude", "longitude", "first_seen", "last_seen"];
  var NUMBER_FIELDS = ["latitude", "longitude"];
  var DAY_OPS = ["within_last", "more_than_ago", "within_next", "anniversary_within"];
  var NO_VALUE_OPS = ["exists", "not_exists"];
  var LIST_OPS = ["in", "not_in"];
  var ORDER_OPS = ["gt", "gte", "lt", "lte", "between"];
  var DEFAULTS = {
    attribute: { attribute: "", op: "eq", value: "" },
    field: { field: "country", op: "eq", value: "" },
    event: { name: "" },
    aggregate: { name: "", property: "", "function": "sum", op: "gt", value: 0 },
    occurrence: { name: "", which: "last", op: "within_last", days: 7 },
    active: { at_least: 1, of_last_days: 7 },
    subscription: { channel: "email", state: "subscribed" },
    device: {},
    near: { latitude: 0, longitude: 0, radius_km: 10 },
    message: { action: "received" },
    segment: { segment_id: "" },
    random_bucket: { seed: "", percent: 10 }
  };

  var kit = window.NudgeKit, el = kit.el, labelled = kit.labelled, select = kit.select, input = kit.input;

  function button(text, action, extra) {
    var b = el("button", { type: "button", "class": "btn btn-sm " + (extra || "btn-ghost"), text: text });
    b.addEventListener("click", action);
    if (readonly) b.hidden = true;
    return b;
  }

  // Values carry their JSON type: "34" is not 34 (docs/segments.md, typed comparisons).
  // The type chosen for a node is remembered, so a value still being typed keeps it.
  var chosenTypes = new WeakMap();
  function typeOf(value) {
    var sample = Array.isArray(value) ? value[0] : value;
    if (typeof sample === "number") return "number";
    if (typeof sample === "boolean") return "boolean";
    return "text";
  }

  function typed(raw, type) {
    if (type === "number") {
      var n = Number(raw);
      return raw.trim() !== "" && isFinite(n) ? n : raw;
    }
    if (type === "boolean") return raw.trim().toLowerCase() === "true";
    return raw;
  }

  // The document and its redraw ----------------------------------------------------------------

  function changed() {
    output.value = JSON.stringify(doc, null, 2);
    if (jsonNote) jsonNote.textContent = "";
    form.dispatchEvent(new CustomEvent("segment-change", { bubbles: true }));
  }

  function draw() {
    kit.keepFocus(root, function () {
      root.replaceChildren(drawNode(doc.match, "definition.match", function (node) { doc.match = node; }, null));
      if (readonly) root.querySelectorAll("input, select").forEach(function (c) { c.disabled = true; });
    });
    markError(root.getAttribute("data-error-path"));
  }

  function restructure() { draw(); changed(); }

  function markError(path) { kit.markError(root, path); }

  function isGroup(node) {
    return node && typeof node === "object" && ("all" in node || "any" in node || "not" in node) && !("type" in node);
  }

  function drawNode(node, path, replace, remove) {
    if (isGroup(node) && "not" in node) return drawNot(node, path, replace, remove);
    if (isGroup(node)) return drawGroup(node, path, replace, remove);
    return drawCondition(node, path, replace, remove);
  }

  function nodeTools(node, replace, remove) {
    var tools = el("div", { "class": "seg-tools" });
    tools.appendChild(button("Not", function () { replace({ not: node }); restructure(); }));
    if (!isGroup(node)) {
      tools.appendChild(button("Group", function () { replace({ all: [node] }); restructure(); }));
    }
    if (remove) tools.appendChild(button("Remove", function () { remove(); restructure(); }, "btn-ghost btn-danger-text"));
    return tools;
  }

  function drawGroup(node, path, replace, remove) {
    var kind = "all" in node ? "all" : "any";
    var box = el("fieldset", { "class": "seg-group", "data-path": path });
    var mode = select([["all", "All of these"], ["any", "Any of these"]], kind, path + "|group");
    mode.addEventListener("change", function () {
      var children = node[kind];
      delete node[kind];
      node[mode.value] = children;
      restructure();
    });
    box.appendChild(el("legend", {}, [labelled("Users matching", mode)]));
    box.appendChild(nodeTools(node, replace, remove));
    var list = el("ol", { "class": "seg-children" });
    node[kind].forEach(function (child, index) {
      var childPath = path + "." + kind + "[" + index + "]";
      list.appendChild(el("li", {}, [drawNode(
        child, childPath,
        function (next) { node[kind][index] = next; },
        function () { node[kind].splice(index, 1); }
      )]));
    });
    if (!node[kind].length) {
      list.appendChild(el("li", { "class": "muted", text: kind === "all" ? "No condition yet: everyone matches." : "No condition yet: no one matches." }));
    }
    box.appendChild(list);
    var adds = el("div", { "class": "seg-adds" }, [
      button("+ Condition", function () { node[kind].push(Object.assign({ type: "attribute" }, DEFAULTS.attribute)); restructure(); }, ""),
      button("+ Group", function () { node[kind].push({ any: [] }); restructure(); }, "")
    ]);
    box.appendChild(adds);
    return box;
  }

  function drawNot(node, path, replace, remove) {
    var box = el("div", { "class": "seg-not", "data-path": path });
    var head = el("div", { "class": "seg-not-head" }, [el("strong", { text: "Not:" }), el("span", { "class": "muted", text: " users who do not match this" })]);
    head.appendChild(button("Remove not", function () { replace(node.not); restructure(); }));
    if (remove) head.appendChild(button("Remove", function () { remove(); restructure(); }, "btn-ghost btn-danger-text"));
    box.appendChild(head);
    box.appendChild(drawNode(node.not, path + ".not", function (next) { node.not = next; }, null));
    return box;
  }

  function drawCondition(node, path, replace, remove) {
    var box = el("div", { "class": "seg-condition", "data-path": path });
    var known = DEFAULTS.hasOwnProperty(node.type);
    var kinds = known ? KINDS : KINDS.concat([[node.type, String(node.type)]]);
    var kind = select(kinds, node.type, path + "|type");
    kind.addEventListener("change", function () {
      replace(Object.assign({ type: kind.value }, JSON.parse(JSON.stringify(DEFAULTS[kind.value]))));
      restructure();
    });
    var row = el("div", { "class": "seg-row" }, [labelled("Condition", kind)]);
    box.appendChild(row);
    if (known) EDITORS[node.type](row, node, path, box);
    box.appendChild(nodeTools(node, replace, remove));
    return box;
  }

  // Bindings: each control writes one key of the node ----------------------------------------

  function bindText(row, node, key, label, path, optional) {
    var i = input("text", node[key], path + "|" + key);
    i.addEventListener("input", function () {
      if (optional && i.value === "") delete node[key]; else node[key] = i.value;
      changed();
    });
    row.appendChild(labelled(label, i));
  }

  function bindNumber(row, node, key, label, path, optional) {
    var i = input("number", node[key], path + "|" + key, { step: "any" });
    i.addEventListener("input", function () {
      if (optional && i.value === "") delete node[key]; else node[key] = typed(i.value, "number");
      changed();
    });
    row.appendChild(labelled(label, i));
  }

  function bindSelect(row, node, key, label, options, path, onChange) {
    var s = select(options, node[key] === undefined ? "" : node[key], path + "|" + key);
    s.addEventListener("change", function () {
      if (s.value === "") delete node[key]; else node[key] = s.value;
      if (onChange) onChange(); else changed();
    });
    row.appendChild(labelled(label, s));
  }

  // An operator and its operand (attributes, fields, event properties, aggregates, dates).
  function bindOperator(row, node, path, options, fixedType, allowAsDate) {
    var op = select(options, node.op, path + "|op");
    op.addEventListener("change", function () { reshape(node, op.value); restructure(); });
    row.appendChild(labelled("Operator", op));
    var current = node.op;
    if (NO_VALUE_OPS.indexOf(current) >= 0) return;
    if (DAY_OPS.indexOf(current) >= 0) { bindNumber(row, node, "days", "Days", path); return; }
    var type = fixedType || chosenTypes.get(node) || typeOf(node.value);
    var typeSelect = null;
    if (!fixedType) {
      typeSelect = select([["text", "text"], ["number", "number"], ["boolean", "true/false"]], type, path + "|valuetype");
      typeSelect.addEventListener("change", function () {
        chosenTypes.set(node, typeSelect.value);
        node.value = retype(node.value, typeSelect.value);
        restructure();
      });
    }
    if (LIST_OPS.indexOf(current) >= 0) {
      var list = input("text", (node.value || []).join(", "), path + "|value", { placeholder: "a, b, c" });
      list.addEventListener("input", function () {
        var kind = typeSelect ? typeSelect.value : type;
        node.value = list.value.split(",").map(function (s) { return s.trim(); })
          .filter(function (s) { return s !== ""; }).map(function (s) { return typed(s, kind); });
        changed();
      });
      row.appendChild(labelled("Values, comma-separated", list));
    } else if (current === "between") {
      var pair = Array.isArray(node.value) ? node.value : ["", ""];
      node.value = pair;
      [0, 1].forEach(function (index) {
        var end = input("text", pair[index], path + "|value" + index);
        end.addEventListener("input", function () {
          node.value[index] = typed(end.value, typeSelect ? typeSelect.value : type);
          changed();
        });
        row.appendChild(labelled(index ? "And" : "From", end));
      });
    } else {
      var single = input("text", node.value, path + "|value");
      single.addEventListener("input", function () {
        node.value = typed(single.value, typeSelect ? typeSelect.value : type);
        changed();
      });
      row.appendChild(labelled("Value", single));
    }
    if (typeSelect) row.appendChild(labelled("As", typeSelect));
    if (allowAsDate && ORDER_OPS.indexOf(current) >= 0) {
      var asDate = el("input", { type: "checkbox", "data-key": path + "|as" });
      asDate.checked = node.as === "date";
      asDate.addEventListener("change", function () {
        if (asDate.checked) node.as = "date"; else delete node.as;
        changed();
      });
      row.appendChild(el("label", { "class": "seg-check" }, [asDate, el("span", { text: " compare as dates" })]));
    }
  }

  function retype(value, type) {
    if (Array.isArray(value)) return value.map(function (v) { return typed(String(v), type); });
    return typed(value === undefined ? "" : String(value), type);
  }

  // Switching operators keeps what still fits: a value becomes a one-item list, days stay days.
  function reshape(node, op) {
    var previous = node.value;
    var first = Array.isArray(previous) ? previous[0] : previous;
    node.op = op;
    if (NO_VALUE_OPS.indexOf(op) >= 0 || DAY_OPS.indexOf(op) >= 0) {
      delete node.value;
      delete node.as;
      if (DAY_OPS.indexOf(op) >= 0 && node.days === undefined) node.days = 7;
      if (DAY_OPS.indexOf(op) < 0) delete node.days;
      return;
    }
    delete node.days;
    if (ORDER_OPS.indexOf(op) < 0) delete node.as;
    if (LIST_OPS.indexOf(op) >= 0) node.value = Array.isArray(previous) ? previous : (first === undefined || first === "" ? [] : [first]);
    else if (op === "between") node.value = Array.isArray(previous) && previous.length === 2 ? previous : [first === undefined ? "" : first, ""];
    else node.value = first === undefined ? "" : first;
  }

  function bindWhere(box, node, path) {
    var filters = el("div", { "class": "seg-where" });
    (node.where || []).forEach(function (filter, index) {
      var filterPath = path + ".where[" + index + "]";
      var row = el("div", { "class": "seg-row", "data-path": filterPath });
      bindText(row, filter, "property", "Property", filterPath);
      bindOperator(row, filter, filterPath, VALUE_OPS, null, true);
      row.appendChild(button("Remove filter", function () {
        node.where.splice(index, 1);
        if (!node.where.length) delete node.where;
        restructure();
      }, "btn-ghost btn-danger-text"));
      filters.appendChild(row);
    });
    filters.appendChild(button("+ Property filter", function () {
      node.where = node.where || [];
      node.where.push({ property: "", op: "eq", value: "" });
      restructure();
    }));
    box.appendChild(filters);
  }

  function bindWindow(row, node, path) {
    var w = node.window || {};
    var kind = !node.window ? "ever" : ("last_days" in w ? "last" : "range");
    var s = select([["ever", "ever"], ["last", "in the last … days"], ["range", "between instants"]], kind, path + "|window");
    s.addEventListener("change", function () {
      if (s.value === "ever") delete node.window;
      else if (s.value === "last") node.window = { last_days: 30 };
      else node.window = { since: new Date(Date.now() - 30 * 864e5).toISOString().slice(0, 10) + "T00:00:00Z" };
      restructure();
    });
    row.appendChild(labelled("When", s));
    if (kind === "last") bindNumber(row, w, "last_days", "Days", path + ".window");
    if (kind === "range") {
      bindText(row, w, "since", "Since (ISO, with offset)", path + ".window", true);
      bindText(row, w, "until", "Until, excluded", path + ".window", true);
    }
  }

  function countEditor(row, node, path) {
    var mode = node.did === false ? "not" : (node.count ? "count" : "did");
    var s = select([["did", "did it at least once"], ["not", "did not do it"], ["count", "did it a number of times"]], mode, path + "|did");
    s.addEventListener("change", function () {
      delete node.did;
      delete node.count;
      if (s.value === "not") node.did = false;
      if (s.value === "count") node.count = { op: "gte", value: 3 };
      restructure();
    });
    row.appendChild(labelled("Who", s));
    if (mode === "count") {
      var countPath = path + ".count";
      var op = select(NUMBER_OPS, node.count.op, countPath + "|op");
      op.addEventListener("change", function () { reshape(node.count, op.value); restructure(); });
      row.appendChild(labelled("Times", op));
      numberOperand(row, node.count, countPath);
    }
  }

  // A numeric operand: one number, or [low, high] for between.
  function numberOperand(row, holder, path) {
    if (holder.op === "between") {
      if (!Array.isArray(holder.value)) holder.value = [0, 0];
      [0, 1].forEach(function (index) {
        var end = input("number", holder.value[index], path + "|value" + index, { step: "any" });
        end.addEventListener("input", function () { holder.value[index] = typed(end.value, "number"); changed(); });
        row.appendChild(labelled(index ? "And" : "From", end));
      });
    } else {
      bindNumber(row, holder, "value", "Number", path);
    }
  }

  var EDITORS = {
    attribute: function (row, node, path) {
      bindText(row, node, "attribute", "Attribute", path);
      bindOperator(row, node, path, VALUE_OPS, null, true);
    },
    field: function (row, node, path) {
      bindSelect(row, node, "field", "Field", FIELDS.map(function (f) { return [f, f]; }), path, function () {
        if (NUMBER_FIELDS.indexOf(node.field) >= 0 && typeof node.value === "string") node.value = typed(node.value, "number");
        restructure();
      });
      var fixed = NUMBER_FIELDS.indexOf(node.field) >= 0 ? "number" : "text";
      bindOperator(row, node, path, VALUE_OPS, fixed, false);
    },
    event: function (row, node, path, box) {
      bindText(row, node, "name", "Event", path);
      countEditor(row, node, path);
      bindWindow(row, node, path);
      bindWhere(box, node, path);
    },
    aggregate: function (row, node, path, box) {
      bindText(row, node, "name", "Event", path);
      bindSelect(row, node, "function", "Function", [["sum", "sum"], ["avg", "average"], ["min", "minimum"], ["max", "maximum"]], path);
      bindText(row, node, "property", "Of property", path);
      var op = select(NUMBER_OPS, node.op, path + "|op");
      op.addEventListener("change", function () { reshape(node, op.value); restructure(); });
      row.appendChild(labelled("Is", op));
      numberOperand(row, node, path);
      bindWindow(row, node, path);
      bindWhere(box, node, path);
    },
    occurrence: function (row, node, path, box) {
      bindSelect(row, node, "which", "Which", [["last", "last time"], ["first", "first time"]], path);
      bindText(row, node, "name", "Event", path);
      bindOperator(row, node, path, DATE_OPS, "text", false);
      bindWindow(row, node, path);
      bindWhere(box, node, path);
    },
    active: function (row, node, path) {
      bindNumber(row, node, "at_least", "Active on at least (days)", path);
      bindNumber(row, node, "of_last_days", "Of the last (days)", path);
    },
    subscription: function (row, node, path) {
      bindSelect(row, node, "channel", "Channel", [["email", "email"], ["push", "push"], ["in_app", "in-app"]], path);
      bindSelect(row, node, "state", "State", [["subscribed", "subscribed"], ["unsubscribed", "unsubscribed"]], path);
    },
    device: function (row, node, path) {
      bindSelect(row, node, "platform", "Platform", [["", "any"], ["fcm", "FCM (Android)"], ["apns", "APNs (iOS)"], ["webpush", "Web Push"]], path);
    },
    near: function (row, node, path) {
      bindNumber(row, node, "latitude", "Latitude", path);
      bindNumber(row, node, "longitude", "Longitude", path);
      bindNumber(row, node, "radius_km", "Radius, km", path);
    },
    message: function (row, node, path) {
      bindSelect(row, node, "action", "Action", [["received", "received"], ["opened", "opened"], ["clicked", "clicked"]], path);
      bindSelect(row, node, "campaign_id", "Campaign", withCurrent([["", "any campaign"]].concat(named(choices.campaigns)), node.campaign_id), path);
      bindNumber(row, node, "last_days", "In the last (days, optional)", path, true);
    },
    segment: function (row, node, path) {
      bindSelect(row, node, "segment_id", "Segment", withCurrent([["", "choose a segment"]].concat(named(choices.segments)), node.segment_id), path);
    },
    random_bucket: function (row, node, path) {
      bindText(row, node, "seed", "Seed", path);
      bindNumber(row, node, "percent", "Percent", path);
      bindNumber(row, node, "offset", "Offset, percent (optional)", path, true);
    }
  };

  function named(items) {
    return (items || []).map(function (item) { return [item.id, item.name]; });
  }

  // A stored id that is not among the choices (deleted, or typed in the JSON) stays shown.
  function withCurrent(options, current) {
    if (current && !options.some(function (o) { return o[0] === current; })) options.push([current, current]);
    return options;
  }

  var load = kit.mirrorJson({
    output: output,
    note: jsonNote,
    form: form,
    changeEvent: "segment-change",
    unreadable: "This is not a definition the builder can draw yet; the count below says why.",
    accept: function (d) { return d.match && typeof d.match === "object"; },
    use: function (d) { doc = d; },
    redraw: draw,
  });
  // The count's answer names the node at fault, if any.
  kit.onServerError("audience", root, function () { markError(root.getAttribute("data-error-path")); });

  if (!load()) doc = { version: 1, match: { all: [] } };
  draw();
})();
