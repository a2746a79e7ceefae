/* Fallback for browsers without ES module support. */
(function () {
  "use strict";
  document.documentElement.className += " no-modules";
})();
