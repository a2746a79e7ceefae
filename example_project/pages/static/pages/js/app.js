import { qs, ready } from "./lib/util.js";
import { bindLightbox, loadGallery } from "./lib/gallery.js";

ready(() => {
  document.documentElement.classList.add("js");
  const gallery = qs("[data-gallery]");
  if (gallery) {
    bindLightbox(gallery);
    loadGallery(gallery).catch(() => {});
  }
});
//# sourceMappingURL=app.js.map
