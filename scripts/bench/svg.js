'use strict';
/**
 * The report's chart, written by hand as SVG: one horizontal bar per case, the ratio gateway
 * cost ÷ nginx cost on a log2 axis (1.0 = parity, left of it the gateway is ahead), a tick for
 * the issue's target where there is one, bars green when within the target, red when not,
 * grey when the case has no target. No chart library.
 */

const WIDTH = 860;
const ROW = 26;
const LEFT = 190; // room for the case labels
const RIGHT = 120; // room for the value labels
const TOP = 64;

/** Escapes text for an SVG text node or attribute. */
function esc(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

/** A number with at most two decimals, for labels. */
const fmt = (n) => (n >= 10 ? n.toFixed(1) : n.toFixed(2));

/**
 * The chart for `rows` ({ label, ratio, target }; ratio null when not measured). `title` and
 * `subtitle` head it; `axis` names the axis (the reference server is nginx unless said). The
 * legend shows only what the rows use. Returns the SVG document as a string.
 */
function ratioChart(rows, { title, subtitle, axis = 'gateway cost ÷ nginx cost (log scale; 1 = parity, lower is better)' }) {
  const ratios = rows.map((r) => r.ratio).filter((r) => r !== null && Number.isFinite(r) && r > 0);
  const targets = rows.map((r) => r.target).filter((t) => t);
  const lo = Math.min(0.25, ...ratios.map((r) => 2 ** Math.floor(Math.log2(r))));
  const hi = Math.max(4, ...ratios.map((r) => 2 ** Math.ceil(Math.log2(r))), ...targets);
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (v) => LEFT + ((Math.log2(v) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) * plotWidth;
  const height = TOP + rows.length * ROW + 78;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${WIDTH / 2}" y="40" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);

  // Grid: one line per power of two, parity emphasized.
  const bottom = TOP + rows.length * ROW;
  for (let v = lo; v <= hi * 1.0001; v *= 2) {
    const gx = x(v).toFixed(1);
    const parity = Math.abs(v - 1) < 1e-9;
    out.push(`<line x1="${gx}" y1="${TOP - 6}" x2="${gx}" y2="${bottom}" stroke="${parity ? '#333' : '#ddd'}" stroke-width="${parity ? 1.5 : 1}"/>`);
    out.push(`<text x="${gx}" y="${bottom + 16}" text-anchor="middle" fill="#333">${v >= 1 ? v : `1/${1 / v}`}</text>`);
  }
  out.push(`<text x="${(LEFT + x(hi)) / 2}" y="${bottom + 34}" text-anchor="middle" fill="#333">${esc(axis)}</text>`);

  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    out.push(`<text x="${LEFT - 8}" y="${y + ROW / 2 + 4}" text-anchor="end">${esc(row.label)}</text>`);
    if (row.ratio === null || !Number.isFinite(row.ratio) || row.ratio <= 0) {
      out.push(`<text x="${LEFT + 6}" y="${y + ROW / 2 + 4}" fill="#888">not measured</text>`);
      return;
    }
    const base = x(1);
    const end = x(Math.min(Math.max(row.ratio, lo), hi));
    const color = !row.target ? '#9e9e9e' : row.ratio <= row.target ? '#2e7d32' : '#c62828';
    const left = Math.min(base, end);
    const width = Math.max(1, Math.abs(end - base));
    out.push(`<rect x="${left.toFixed(1)}" y="${y + 5}" width="${width.toFixed(1)}" height="${ROW - 10}" fill="${color}" opacity="0.85"/>`);
    if (row.target) {
      const tx = x(row.target).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + ROW - 2}" stroke="#1565c0" stroke-width="2.5"/>`);
    }
    const labelX = Math.max(base, end, row.target ? x(row.target) : 0) + 6;
    const note = row.target ? ` (target ≤ ${row.target})` : '';
    out.push(`<text x="${labelX.toFixed(1)}" y="${y + ROW / 2 + 4}" fill="#222">${fmt(row.ratio)}${esc(note)}</text>`);
  });

  // Legend.
  const ly = height - 12;
  const legend = [
    ['#2e7d32', 'within target'],
    ['#c62828', 'beyond target'],
    ['#9e9e9e', 'no target'],
  ].filter(([, text]) => (text === 'no target' ? rows.some((r) => !r.target) : targets.length > 0));
  legend.forEach(([color, text], i) => {
    const lx = LEFT + i * 130;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly}">${text}</text>`);
  });
  if (targets.length > 0) {
    const tx = LEFT + legend.length * 130;
    out.push(`<line x1="${tx + 6}" y1="${ly - 12}" x2="${tx + 6}" y2="${ly + 2}" stroke="#1565c0" stroke-width="2.5"/>`);
    out.push(`<text x="${tx + 14}" y="${ly}">the issue's target</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

module.exports = { ratioChart };
