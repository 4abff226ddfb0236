// Pages talk to the JSON envelope {code, message, data}. No inline script: the
// Content-Security-Policy allows only files served from this origin.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.json().catch(function () {
        return { code: response.status, message: response.statusText, data: {} };
      });
    }, function () {
      return { code: 0, message: document.documentElement.lang === "en"
        ? "Network error. Please try again." : "网络错误，请重试。", data: {} };
    });
  }

  // A sensitive action may answer 401 with data.reauth: ask for the password in
  // place, then send the same request again, so nothing typed is lost.
  function send(url, fields) {
    return api(url, fields).then(function (envelope) {
      if (envelope.code === 401 && envelope.data && envelope.data.reauth) {
        return reauthenticate().then(function (confirmed) {
          return confirmed ? send(url, fields) : envelope;
        });
      }
      return envelope;
    });
  }

  function reauthenticate() {
    var dialog = document.getElementById("reauth");
    if (!dialog) { return Promise.resolve(false); }
    var form = dialog.querySelector("form");
    var input = form.querySelector('[name="password"]');
    return new Promise(function (resolve) {
      var settled = false;
      function finish(confirmed) {
        if (settled) { return; }
        settled = true;
        form.onsubmit = null;
        dialog.onclose = null;
        input.value = "";
        if (dialog.open) { dialog.close(); }
        resolve(confirmed);
      }
      form.onsubmit = function (event) {
        event.preventDefault();
        api(dialog.getAttribute("data-url"), { password: input.value }).then(function (envelope) {
          if (envelope.code === 200) { finish(true); } else { show(form, envelope); }
        });
      };
      dialog.onclose = function () { finish(false); };
      clearErrors(form);
      dialog.showModal();
      input.focus();
    });
  }

  function fieldsOf(form) {
    var fields = {};
    new FormData(form).forEach(function (value, name) { fields[name] = value; });
    return fields;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var note = form.querySelector(".form-message");
    if (note) { note.textContent = ""; note.className = "form-message"; }
  }

  // Put each message beside the field it concerns; the rest under the form.
  function show(form, envelope) {
    clearErrors(form);
    var errors = (envelope.data && envelope.data.errors) || {};
    var placed = false;
    Object.keys(errors).forEach(function (name) {
      var slot = form.querySelector('[data-error-for="' + name + '"]');
      var input = form.querySelector('[name="' + name + '"]');
      if (slot) { slot.textContent = errors[name]; placed = true; }
      if (input) { input.setAttribute("aria-invalid", "true"); }
    });
    var note = form.querySelector(".form-message");
    if (note && (!placed || envelope.code === 200)) {
      note.textContent = envelope.message;
      note.className = "form-message " + (envelope.code === 200 ? "success" : "error");
    }
  }

  function countdown(button) {
    var key = "campus.resend." + button.getAttribute("data-key");
    var label = button.textContent;
    var timer = null;

    function tick() {
      var left = Math.ceil((Number(localStorage.getItem(key) || 0) - Date.now()) / 1000);
      if (left > 0) {
        button.disabled = true;
        button.textContent = button.getAttribute("data-wait").replace("{s}", left);
        return;
      }
      clearInterval(timer);
      timer = null;
      localStorage.removeItem(key);
      button.disabled = false;
      button.textContent = label;
    }

    return {
      start: function (seconds) {
        localStorage.setItem(key, String(Date.now() + seconds * 1000));
        if (!timer) { timer = setInterval(tick, 250); }
        tick();
      },
      stop: function () {
        localStorage.removeItem(key);
        tick();
      }
    };
  }

  // Follow a queued message until it was sent or failed, without a reload.
  function followDelivery(button, clock, delivery) {
    var note = document.getElementById("delivery-status");
    var url = button.getAttribute("data-url") + "/" + encodeURIComponent(delivery);
    var tries = 0;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (envelope) {
          var status = envelope.data && envelope.data.status;
          if (status === "sent") {
            note.textContent = button.getAttribute("data-sent");
            note.className = "delivery-status success";
          } else if (status === "failed") {
            note.textContent = button.getAttribute("data-failed");
            note.className = "delivery-status error";
            clock.stop();  // nothing was delivered, so a new code may go at once
          } else if (tries++ < 120) {
            setTimeout(poll, 1000);
          }
        }, function () { if (tries++ < 120) { setTimeout(poll, 2000); } });
    }
    if (note) { note.textContent = ""; note.className = "delivery-status"; poll(); }
  }

  // After a resend, an earlier mail's code still works: say so, since mail can be
  // slow. Logged-in answers count the live codes; the anonymous ones may not tell
  // (they answer alike whether or not an account exists), so count this tab's asks.
  function earlierCodes(button, envelope, address) {
    var earlier = envelope.data.earlier_codes;
    if (earlier === undefined) {
      var seen = "campus.asked." + button.getAttribute("data-key") + "." + address.trim().toLowerCase();
      earlier = Number(sessionStorage.getItem(seen) || 0);
      sessionStorage.setItem(seen, String(earlier + 1));
    }
    var note = document.getElementById("earlier-codes");
    if (!note) { return; }
    note.hidden = !(earlier > 0);
    note.textContent = earlier > 0 ? button.getAttribute("data-earlier") : "";
  }

  function wireCodeButton(button) {
    var form = button.closest("form");
    var clock = countdown(button);
    var key = "campus.resend." + button.getAttribute("data-key");
    // Survive a reload: pick the countdown up where the last page left it.
    var until = Number(localStorage.getItem(key) || 0);
    if (until > Date.now()) { clock.start((until - Date.now()) / 1000); }
    button.addEventListener("click", function () {
      var input = form.querySelector('[name="' + button.getAttribute("data-field") + '"]');
      button.disabled = true;
      var fields = {};
      fields[input.name] = input.value;
      send(button.getAttribute("data-url"), fields).then(function (envelope) {
        show(form, envelope);
        var wait = envelope.data && (envelope.data.resend_after || envelope.data.retry_after);
        if (wait) { clock.start(wait); } else { button.disabled = false; }
        if (envelope.code === 200) { earlierCodes(button, envelope, input.value); }
        if (envelope.code === 200 && envelope.data.delivery) {
          followDelivery(button, clock, envelope.data.delivery);
        }
      });
    });
  }

  function wireForm(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = form.querySelector('[type="submit"]');
      if (submit) { submit.disabled = true; }
      send(form.getAttribute("action"), fieldsOf(form)).then(function (envelope) {
        if (submit) { submit.disabled = false; }
        if (envelope.code === 200 && envelope.data && envelope.data.next) {
          window.location.assign(envelope.data.next);
          return;
        }
        if (envelope.code === 401 && !(envelope.data && envelope.data.reauth)) {
          var login = document.body.getAttribute("data-login-url") || "/login";
          window.location.assign(login + "?next=" + encodeURIComponent(window.location.pathname));
          return;
        }
        show(form, envelope);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-api]").forEach(wireForm);
    document.querySelectorAll("[data-code-button]").forEach(wireCodeButton);
  });
})();
