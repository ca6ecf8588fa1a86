// The report page's only script: the print button (the page is complete without it).
"use strict";
(function () {
  function wire() {
    var button = document.getElementById("print");
    if (button && !button.dataset.wired) {
      button.dataset.wired = "yes";
      button.addEventListener("click", function () { window.print(); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
  window.copbotWirePrint = wire;
})();
