// Flask-Admin's templates use a few inline onclick handlers, which our CSP (no inline script)
// blocks. Re-attach the same behaviour as real listeners.
(function () {
  "use strict";
  document.querySelectorAll("[onclick]").forEach(function (el) {
    var code = el.getAttribute("onclick") || "";
    var confirmMatch = code.match(/safeConfirm\('(.*)'\)/) || code.match(/confirm\('(.*)'\)/);
    var actionMatch = code.match(/modelActions\.execute\('([^']*)'\)/);
    if (confirmMatch) {
      el.addEventListener("click", function (ev) {
        if (!window.confirm(confirmMatch[1].replace(/\\'/g, "'"))) { ev.preventDefault(); }
      });
    } else if (actionMatch && window.modelActions) {
      el.addEventListener("click", function (ev) {
        ev.preventDefault();
        window.modelActions.execute(actionMatch[1]);
      });
    } else if (code.indexOf("return false") !== -1) {
      el.addEventListener("click", function (ev) { ev.preventDefault(); });
    }
  });
})();
