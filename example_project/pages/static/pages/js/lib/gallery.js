import { qs, qsa, staticUrl } from "./util.js";

export async function loadGallery(root) {
  const source = staticUrl(root, "galleryJson");
  if (!source) {
    return [];
  }
  const response = await fetch(source);
  const data = await response.json();
  const caption = qs(".gallery__count", root);
  if (caption) {
    caption.textContent = `${data.photos.length} photos`;
  }
  return data.photos;
}

export function bindLightbox(root) {
  for (const link of qsa("a[data-lightbox]", root)) {
    link.addEventListener("click", (event) => {
      if (window.Lightbox) {
        event.preventDefault();
        window.Lightbox.open(link.href, link.title);
      }
    });
  }
}
