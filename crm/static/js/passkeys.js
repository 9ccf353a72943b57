// Passkeys through the browser's own WebAuthn API (navigator.credentials), no library: add one
// on the security page, or use one as the second step. The server sends the options as JSON
// (binary fields base64url) and checks the answer. CSP-safe: no inline script.
(function () {
  "use strict";
  function fromB64url(value) {
    var s = value.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var raw = atob(s), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (r) { return r.json(); });
  }
  function say(box, text) {
    var el = box.querySelector("[data-role='message']");
    if (!el) { el = document.createElement("div"); el.setAttribute("data-role", "message"); el.className = "small mt-2"; el.setAttribute("data-testid", "passkey-message"); box.appendChild(el); }
    el.textContent = text;
  }
  function descriptors(list) {
    return (list || []).map(function (d) { return { type: d.type, id: fromB64url(d.id), transports: d.transports }; });
  }
  var register = document.getElementById("passkey-register");
  if (register) {
    register.querySelector("[data-testid='add-passkey']").addEventListener("click", function () {
      var csrf = register.getAttribute("data-csrf");
      post(register.getAttribute("data-options-url"), csrf).then(function (o) {
        o.challenge = fromB64url(o.challenge);
        o.user.id = fromB64url(o.user.id);
        o.excludeCredentials = descriptors(o.excludeCredentials);
        return navigator.credentials.create({ publicKey: o });
      }).then(function (cred) {
        var answer = {
          id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: toB64url(cred.response.clientDataJSON),
            attestationObject: toB64url(cred.response.attestationObject)
          }
        };
        var name = document.getElementById("passkey-name").value;
        return post(register.getAttribute("data-verify-url"), csrf, { credential: JSON.stringify(answer), name: name });
      }).then(function (result) {
        if (result.ok) { window.location.assign(result.next); } else { say(register, result.message); }
      }).catch(function (error) { say(register, "The passkey was not added: " + error.message); });
    });
  }
  var login = document.getElementById("passkey-login");
  if (login) {
    login.querySelector("[data-testid='use-passkey']").addEventListener("click", function () {
      var csrf = login.getAttribute("data-csrf");
      post(login.getAttribute("data-options-url"), csrf).then(function (o) {
        if (o.ok === false) { throw new Error(o.message); }
        o.challenge = fromB64url(o.challenge);
        o.allowCredentials = descriptors(o.allowCredentials);
        return navigator.credentials.get({ publicKey: o });
      }).then(function (cred) {
        var answer = {
          id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: toB64url(cred.response.clientDataJSON),
            authenticatorData: toB64url(cred.response.authenticatorData),
            signature: toB64url(cred.response.signature),
            userHandle: cred.response.userHandle ? toB64url(cred.response.userHandle) : null
          }
        };
        return post(login.getAttribute("data-verify-url"), csrf, { credential: JSON.stringify(answer) });
      }).then(function (result) {
        if (result.ok) { window.location.assign(result.next); } else { say(login, result.message); }
      }).catch(function (error) { say(login, "The passkey was not accepted: " + error.message); });
    });
  }
})();
