/* Nudge browser SDK: identify users, track events, show in-app messages, register Web Push.
 * Include with <script src="https://YOUR-NUDGE/sdk/nudge.js"></script>, then:
 *   Nudge.init({ apiKey: "nk_pub_...", userId: "u1", userSignature: "<hmac from your backend>" });
 *   Nudge.track("app_open");
 * No dependencies, no build step. */
(function (global) {
  "use strict";

  var state = { apiKey: null, baseUrl: "", userId: null, signature: null, shown: {}, stream: null, items: [] };

  function api(method, path, body) {
    var headers = { "Authorization": "Bearer " + state.apiKey };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.userId) {
      headers["X-Nudge-User"] = state.userId;
      if (state.signature) headers["X-Nudge-User-Signature"] = state.signature;
    }
    return fetch(state.baseUrl + path, {
      method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) return r.json().then(function (e) { throw new Error((e.error && e.error.message) || r.status); });
      return r.status === 204 ? null : r.json();
    });
  }

  function scriptOrigin() {
    var script = document.currentScript;
    return script && script.src ? new URL(script.src).origin : "";
  }

  var defaultBase = scriptOrigin();

  function init(options) {
    state.apiKey = options.apiKey;
    state.baseUrl = (options.baseUrl || defaultBase).replace(/\/$/, "");
    if (options.userId) return identify(options.userId, options.traits || {}, options.userSignature);
    return Promise.resolve();
  }

  function identify(userId, traits, signature) {
    state.userId = userId;
    state.signature = signature || null;
    return api("PUT", "/v1/users/" + encodeURIComponent(userId), traits || {}).then(function () {
      if (state.signature) { connectInbox(); return refreshInbox(null); }
    });
  }

  function track(name, properties) {
    if (!state.userId) return Promise.reject(new Error("call Nudge.identify first"));
    var sent = api("POST", "/v1/events", { user_id: state.userId, name: name, properties: properties || {} });
    showDue(name);
    return sent;
  }

  /* --- in-app messages --- */

  function refreshInbox(eventName) {
    return api("GET", "/v1/inbox").then(function (page) {
      state.items = page.data;
      showDue(eventName);
      return page;
    });
  }

  function connectInbox() {
    if (state.stream || typeof EventSource === "undefined") return;
    var url = state.baseUrl + "/v1/inbox/stream?key=" + encodeURIComponent(state.apiKey) +
      "&user=" + encodeURIComponent(state.userId) + "&signature=" + encodeURIComponent(state.signature);
    state.stream = new EventSource(url);
    state.stream.addEventListener("inbox", function (e) {
      var item = JSON.parse(e.data);
      if (!state.items.some(function (i) { return i.id === item.id; })) state.items.unshift(item);
      showDue(null);
    });
  }

  /* An item with no trigger shows at once; one with a trigger when that event is tracked. */
  function showDue(eventName) {
    state.items.forEach(function (item) {
      if (state.shown[item.id] || item.read_at) return;
      if (item.trigger && item.trigger !== eventName) return;
      state.shown[item.id] = true;
      render(item);
    });
  }

  var STYLE = {
    banner: "position:fixed;top:12px;left:50%;transform:translateX(-50%);width:min(92vw,480px);" +
      "border-radius:10px;padding:14px 16px;box-shadow:0 6px 24px rgba(0,0,0,.18);z-index:2147483000",
    modal: "position:fixed;top:50%;left:50%;transform:translate(-50%,-50%);width:min(90vw,420px);" +
      "border-radius:14px;padding:22px;box-shadow:0 12px 48px rgba(0,0,0,.3);z-index:2147483001",
    full_screen: "position:fixed;inset:0;padding:10vh 8vw;z-index:2147483002;overflow:auto"
  };

  function el(tag, css, text) {
    var node = document.createElement(tag);
    if (css) node.style.cssText = css;
    if (text) node.textContent = text;
    return node;
  }

  function render(item) {
    var c = item.content, colours = c.colours || {};
    var layout = STYLE[c.layout] ? c.layout : "modal";
    var backdrop = null;
    if (layout === "modal") {
      backdrop = el("div", "position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483000");
      document.body.appendChild(backdrop);
    }
    var box = el("div", STYLE[layout] + ";font-family:system-ui,sans-serif;background:" +
      (colours.background || "#fff") + ";color:" + (colours.text || "#111"));
    box.className = "nudge-message nudge-" + layout;
    box.setAttribute("role", layout === "banner" ? "status" : "dialog");
    box.dataset.nudgeItem = item.id;
    if (c.image) box.appendChild(el("img", "max-width:100%;border-radius:8px;margin-bottom:10px")).src = c.image;
    if (c.title) box.appendChild(el("h2", "margin:0 0 6px;font-size:1.15em", c.title));
    if (c.body) box.appendChild(el("p", "margin:0 0 12px;line-height:1.45", c.body));
    function close(dismiss) {
      box.remove();
      if (backdrop) backdrop.remove();
      if (dismiss) api("POST", "/v1/inbox/" + item.id + "/dismiss");
    }
    var buttons = c.buttons && c.buttons.length ? c.buttons : [{ label: "Close", action: "dismiss" }];
    buttons.forEach(function (b) {
      var button = el("button", "margin:4px 8px 0 0;padding:8px 14px;border:0;border-radius:8px;cursor:pointer;" +
        "background:" + (colours.button || "#3b5bdb") + ";color:" + (colours.button_text || "#fff"), b.label);
      button.addEventListener("click", function () {
        close(true);
        if (b.action === "deep_link" && b.url) global.location.assign(b.url);
      });
      box.appendChild(button);
    });
    document.body.appendChild(box);
    api("POST", "/v1/inbox/" + item.id + "/read");
  }

  /* --- Web Push --- */

  function urlBase64ToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function registerPush(options) {
    options = options || {};
    if (!("serviceWorker" in navigator) || !("PushManager" in global)) {
      return Promise.reject(new Error("this browser does not support Web Push"));
    }
    var workerUrl = options.serviceWorkerUrl || state.baseUrl + "/sdk/nudge-sw.js";
    return api("GET", "/v1/sdk/config").then(function (config) {
      if (!config.vapid_public_key) throw new Error("Web Push is not configured for this workspace");
      return navigator.serviceWorker.register(workerUrl, { scope: options.scope || "/" }).then(function (reg) {
        return navigator.serviceWorker.ready.then(function () {
          return reg.pushManager.subscribe({
            userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(config.vapid_public_key)
          });
        });
      });
    }).then(function (subscription) {
      var json = subscription.toJSON();
      return api("POST", "/v1/users/" + encodeURIComponent(state.userId) + "/devices", {
        platform: "webpush", subscription: { endpoint: json.endpoint, keys: json.keys }
      });
    });
  }

  global.Nudge = {
    init: init, identify: identify, track: track, registerPush: registerPush,
    refreshInbox: function () { return refreshInbox(null); }, _render: render
  };
})(window);
