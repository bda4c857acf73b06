// Tessera BFF single-page app.
//
// Plain JavaScript, no build step, no dependencies. The browser only holds the
// BFF's httpOnly session cookie: this script never sees a token and never
// stores anything (no localStorage, sessionStorage or document.cookie).
// The CSRF token from GET /bff/session lives in a variable only.
"use strict";

(function () {
  var LOGIN_URL = "/bff/login?return_to=/";
  var SESSION_URL = "/bff/session";
  var LOGOUT_URL = "/bff/logout";
  var SAFE_METHODS = { GET: true, HEAD: true };
  // setTimeout overflows above 2^31 - 1 ms (about 24.8 days).
  var MAX_TIMER_MS = 2147483647;

  var state = { csrf: null, expiryTimer: null };

  function $(id) {
    return document.getElementById(id);
  }

  // ---- errors ------------------------------------------------------------

  function HttpError(status, message) {
    this.name = "HttpError";
    this.status = status;
    this.message = message;
  }
  HttpError.prototype = Object.create(Error.prototype);
  HttpError.prototype.constructor = HttpError;

  function SessionEnded() {
    this.name = "SessionEnded";
    this.message = "Your session has ended. Please sign in again.";
  }
  SessionEnded.prototype = Object.create(Error.prototype);
  SessionEnded.prototype.constructor = SessionEnded;

  function showError(message) {
    $("error").textContent = message || "";
  }

  function clearError() {
    showError("");
  }

  // ---- fetch helper ------------------------------------------------------

  // Same-origin fetch that
  //  * always sends the session cookie (credentials: "same-origin"),
  //  * adds X-CSRF-Token to every method other than GET/HEAD,
  //  * turns a 401 into SessionEnded (the caller shows the signed-out state),
  //  * parses JSON bodies.
  function bffFetch(path, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    var headers = new Headers(options.headers || {});
    if (!headers.has("Accept")) {
      headers.set("Accept", "application/json");
    }
    if (!SAFE_METHODS[method]) {
      if (!state.csrf) {
        return Promise.reject(new SessionEnded());
      }
      headers.set("X-CSRF-Token", state.csrf);
    }
    var init = {
      method: method,
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      // The BFF answers these endpoints directly; a redirect (for example to
      // the IdP) is never followed from script.
      redirect: "manual",
    };
    if (options.body !== undefined) {
      init.body = options.body;
    }
    return fetch(path, init).then(function (response) {
      if (response.type === "opaqueredirect") {
        throw new HttpError(0, method + " " + path + " failed: unexpected redirect");
      }
      if (response.status === 401) {
        throw new SessionEnded();
      }
      return response.text().then(function (text) {
        var body = null;
        if (text) {
          try {
            body = JSON.parse(text);
          } catch (e) {
            body = text;
          }
        }
        if (!response.ok) {
          var detail = "";
          if (body && typeof body === "object") {
            detail = body.error_description || body.error || body.detail || "";
          }
          throw new HttpError(
            response.status,
            method + " " + path + " failed: HTTP " + response.status +
              (detail ? " (" + String(detail) + ")" : "")
          );
        }
        return body;
      });
    });
  }

  // ---- rendering ---------------------------------------------------------

  function setStatus(text, stateName) {
    var el = $("status");
    el.textContent = text;
    el.setAttribute("data-state", stateName);
  }

  function clearExpiryTimer() {
    if (state.expiryTimer !== null) {
      clearTimeout(state.expiryTimer);
      state.expiryTimer = null;
    }
  }

  function isSafeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:";
    } catch (e) {
      return false;
    }
  }

  // endSessionUrl: after an explicit sign-out, the IdP's end-session URL.
  function renderSignedOut(message, endSessionUrl) {
    state.csrf = null;
    clearExpiryTimer();
    setStatus("Signed out", "signed-out");
    $("signed-in").hidden = true;
    $("subject").textContent = "";
    $("expires").textContent = "";
    $("expires").removeAttribute("datetime");
    $("result").textContent = "Nothing yet. Press “Call the API”.";
    $("signed-out-message").textContent = message || "You are not signed in.";

    var link = $("idp-logout");
    if (endSessionUrl && isSafeUrl(endSessionUrl)) {
      link.setAttribute("href", endSessionUrl);
      $("idp-logout-wrap").hidden = false;
    } else {
      link.setAttribute("href", "#");
      $("idp-logout-wrap").hidden = true;
    }
    $("signed-out").hidden = false;
    $("login").disabled = false;
  }

  function renderSignedIn(session) {
    state.csrf = typeof session.csrf === "string" ? session.csrf : null;
    setStatus("Signed in", "signed-in");
    $("signed-out").hidden = true;
    $("subject").textContent = String(session.sub || "");

    var expiresEl = $("expires");
    var expiresAt = Number(session.expires_at);
    clearExpiryTimer();
    if (isFinite(expiresAt) && expiresAt > 0) {
      var when = new Date(expiresAt * 1000);
      expiresEl.setAttribute("datetime", when.toISOString());
      expiresEl.textContent = when.toLocaleString(undefined, {
        dateStyle: "medium",
        timeStyle: "short",
      });
      // When the absolute session end passes, ask the BFF again; it will say
      // {"authenticated": false} and the page switches to the signed-out state.
      // If the end is already past by this browser's clock while the BFF still
      // says "authenticated" (clock skew), schedule nothing: that avoids a
      // polling loop, and the proxy's 401 still ends the session in the UI.
      var remaining = expiresAt * 1000 - Date.now();
      if (remaining > 0) {
        state.expiryTimer = setTimeout(loadSession, Math.min(remaining + 1000, MAX_TIMER_MS));
      }
    } else {
      expiresEl.removeAttribute("datetime");
      expiresEl.textContent = "unknown";
    }
    $("signed-in").hidden = false;
    $("call-api").disabled = false;
    $("logout").disabled = false;
  }

  // Shared error handling for every action.
  function handleFailure(err) {
    if (err instanceof SessionEnded) {
      renderSignedOut();
      showError(err.message);
      return;
    }
    showError(err && err.message ? err.message : "Something went wrong.");
  }

  // ---- actions -----------------------------------------------------------

  function loadSession() {
    return bffFetch(SESSION_URL)
      .then(function (session) {
        if (session && session.authenticated === true) {
          renderSignedIn(session);
        } else {
          renderSignedOut();
        }
      })
      .catch(function (err) {
        if (err instanceof SessionEnded) {
          renderSignedOut();
          return;
        }
        setStatus("Unavailable", "error");
        showError("Could not check the session: " + (err && err.message ? err.message : "network error"));
      });
  }

  function login() {
    clearError();
    $("login").disabled = true;
    // Full-page navigation: the BFF runs the OAuth flow and brings us back to /.
    window.location.assign(LOGIN_URL);
  }

  function callApi() {
    clearError();
    var button = $("call-api");
    var result = $("result");
    button.disabled = true;
    result.setAttribute("aria-busy", "true");
    result.textContent = "Calling the API…";
    Promise.all([bffFetch("/api/data/me"), bffFetch("/api/data/reports")])
      .then(function (bodies) {
        result.textContent = JSON.stringify({ me: bodies[0], reports: bodies[1] }, null, 2);
      })
      .catch(function (err) {
        result.textContent = "The API call failed.";
        handleFailure(err);
      })
      .then(function () {
        result.setAttribute("aria-busy", "false");
        button.disabled = false;
      });
  }

  function logout() {
    clearError();
    $("logout").disabled = true;
    $("call-api").disabled = true;
    bffFetch(LOGOUT_URL, { method: "POST" })
      .then(function (body) {
        var url = body && typeof body.end_session_url === "string" ? body.end_session_url : null;
        renderSignedOut("You have signed out of this application.", url);
        $("login").focus();
      })
      .catch(function (err) {
        if (err instanceof SessionEnded) {
          // Already signed out on the server side: nothing left to do here.
          renderSignedOut("You have signed out of this application.");
          return;
        }
        $("logout").disabled = false;
        $("call-api").disabled = false;
        handleFailure(err);
      });
  }

  // ---- wiring ------------------------------------------------------------

  function init() {
    $("login").addEventListener("click", login);
    $("logout").addEventListener("click", logout);
    $("call-api").addEventListener("click", callApi);
    // Coming back through the back/forward cache: the session may have changed.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        loadSession();
      }
    });
    loadSession();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
