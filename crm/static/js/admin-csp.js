// Our CSP allows no inline script, so the Flask-Admin templates we override carry data
// attributes instead of inline onclick handlers; this file gives them their behaviour.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var target = ev.target instanceof Element ? ev.target : null;
    if (!target) { return; }
    var confirmer = target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      ev.preventDefault();
      ev.stopPropagation();
      return;
    }
    var action = target.closest("[data-model-action]");
    if (action) {
      ev.preventDefault();
      // Looked up at click time: Flask-Admin defines modelActions after this file runs.
      if (window.modelActions) { window.modelActions.execute(action.getAttribute("data-model-action")); }
      return;
    }
    // Dropdown toggles link to "javascript:void(0)", which the CSP blocks (and reports) unless
    // the click's default is prevented; Flask-Admin's dropdown helper stops the click before
    // Bootstrap can, so do it here, in the capture phase.
    if (target.closest("a[href^='javascript:']")) { ev.preventDefault(); }
  }, true);
})();
