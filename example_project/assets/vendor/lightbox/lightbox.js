/*! lightbox (demo build) | MIT */
(function (window, document) {
  "use strict";

  function open(src, title) {
    var box = document.querySelector(".lightbox");
    if (!box) {
      return;
    }
    var img = box.querySelector("img");
    img.src = src;
    img.alt = title || "";
    box.classList.add("is-open");
  }

  function close() {
    var box = document.querySelector(".lightbox");
    if (box) {
      box.classList.remove("is-open");
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      close();
    }
  });

  window.Lightbox = { open: open, close: close };
})(window, document);
