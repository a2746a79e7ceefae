// Small DOM helpers shared by the demo modules.
import { ready as domReady } from "./vendor/tiny-dom.js";

export const qs = (selector, root = document) => root.querySelector(selector);
export const qsa = (selector, root = document) =>
  Array.from(root.querySelectorAll(selector));

export function ready(callback) {
  domReady(callback);
}

export function staticUrl(element, name) {
  // The page passes hashed URLs in data attributes rendered by {% static %}.
  return element.dataset[name] || "";
}
