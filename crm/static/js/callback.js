// Progressive enhancement: show "How do you know them?" only when the help is for someone else.
(function () {
  "use strict";
  var block = document.querySelector(".someone-else");
  var radios = document.querySelectorAll("input[name=for_whom]");
  if (!block || !radios.length) { return; }
  function update() {
    var other = document.querySelector("input[name=for_whom]:checked");
    block.hidden = !(other && other.value === "someone_else");
  }
  radios.forEach(function (r) { r.addEventListener("change", update); });
  update();
})();
