// What every lesson page shares: element lookup, SVG elements, the status line, and showing a failure.
export const SVG = 'http://www.w3.org/2000/svg';
export const $ = (id) => document.getElementById(id);

export function status(text) { $('status').textContent = text; }

export function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

export function fail(e) {
  status(`error: ${e.code || ''} ${e.message}`);
  document.body.dataset.error = e.message;
  console.error(e);
}
