/* Nudge Web Push service worker: shows the notification the server encrypted for this
 * subscription, and opens its link when clicked. */
self.addEventListener("push", function (event) {
  var message = {};
  try { message = event.data ? event.data.json() : {}; } catch (e) { message = { body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(message.title || "", {
    body: message.body || "", icon: message.image, image: message.image, tag: message.tag,
    data: { url: message.url, custom: message.data || {} }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = event.notification.data && event.notification.data.url;
  if (url) event.waitUntil(self.clients.openWindow(url));
});
