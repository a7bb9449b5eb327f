/* Hubwire collect.js: page views and hubwire.track(name, props) to POST /v1/collect.
 *
 *   <script src="https://hub.example.com/v1/collect.js" data-key="pk_..." async></script>
 *   hubwire.track("signup", {plan: "pro"});
 *
 * Options on the tag: data-key (a publishable collect key, required), data-endpoint (default: the
 * script's origin + /v1/collect), data-pageviews="false" (no automatic page views), data-flush-ms
 * (batching window, default 1000), data-batch-size (default 20).
 * Events are batched and sent with navigator.sendBeacon (text/plain: no CORS preflight); a batch the
 * browser does not queue, or that fails when sent with fetch (network error, 429, 5xx), is kept and
 * retried with backoff (the pending events survive a reload in sessionStorage). Each event carries an
 * id, so a retry is deduplicated by the destinations. The visitor's anonymous id is kept in
 * localStorage (hubwire_id); hubwire.identify(id) replaces it.
 */
(function () {
  "use strict";
  if (window.hubwire && window.hubwire._loaded) return;
  var tag = document.currentScript || document.querySelector("script[data-key][src*='collect.js']");
  if (!tag) return;
  var key = tag.getAttribute("data-key");
  var endpoint = tag.getAttribute("data-endpoint") || new URL(tag.src, location.href).origin + "/v1/collect";
  var flushMs = parseInt(tag.getAttribute("data-flush-ms") || "1000", 10);
  var batchSize = parseInt(tag.getAttribute("data-batch-size") || "20", 10);
  var STORE = "hubwire_pending";
  var queue = [];
  var timer = null;
  var backoff = 0;

  function rid() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function store(k, v) { try { if (v === undefined) return localStorage.getItem(k); localStorage.setItem(k, v); } catch (e) { return null; } }
  var distinctId = store("hubwire_id");
  if (!distinctId) { distinctId = "anon_" + rid(); store("hubwire_id", distinctId); }

  function save() { try { sessionStorage.setItem(STORE, JSON.stringify(queue)); } catch (e) { /* private mode */ } }
  try { queue = JSON.parse(sessionStorage.getItem(STORE) || "[]") || []; } catch (e) { queue = []; }

  function url() { return endpoint + (endpoint.indexOf("?") < 0 ? "?" : "&") + "key=" + encodeURIComponent(key); }

  function schedule(ms) {
    if (timer) return;
    timer = setTimeout(function () { timer = null; flush(false); }, ms);
  }

  function retry(batch) {
    queue = batch.concat(queue);
    save();
    backoff = Math.min(backoff ? backoff * 2 : 1000, 30000);
    schedule(backoff);
  }

  function flush(leaving) {
    if (!queue.length) return;
    var batch = queue.splice(0, batchSize);
    save();
    var body = JSON.stringify({batch: batch});
    var queued = false;
    if (navigator.sendBeacon) {
      try { queued = navigator.sendBeacon(url(), body); } catch (e) { queued = false; }
    }
    if (queued) {
      backoff = 0;
      if (queue.length) schedule(0);
      return;
    }
    if (leaving || !window.fetch) { retry(batch); return; }
    fetch(url(), {method: "POST", body: body, keepalive: true, headers: {"Content-Type": "text/plain"}})
      .then(function (r) {
        if (r.status === 429 || r.status >= 500) { retry(batch); return; }
        backoff = 0;
        if (queue.length) schedule(0);
      })
      .catch(function () { retry(batch); });
  }

  function track(name, props) {
    queue.push({
      id: rid(),
      event: String(name),
      distinct_id: distinctId,
      timestamp: new Date().toISOString(),
      properties: Object.assign({url: location.href, path: location.pathname, referrer: document.referrer || undefined, title: document.title}, props || {})
    });
    save();
    if (queue.length >= batchSize) flush(false); else schedule(flushMs);
  }

  function page(props) { track("page_view", props); }

  window.hubwire = {
    _loaded: true,
    track: track,
    page: page,
    identify: function (id) { distinctId = String(id); store("hubwire_id", distinctId); },
    flush: function () { flush(false); }
  };
  function leave() { var n = queue.length; while (queue.length && n-- > 0) flush(true); }
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") leave(); });
  window.addEventListener("pagehide", leave);
  if (tag.getAttribute("data-pageviews") !== "false") page();
  if (queue.length) schedule(flushMs);
})();
