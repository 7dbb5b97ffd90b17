import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { EconomyDashboard } from './dashboard.js';
import { num, sourceName } from './texts.js';

/**
 * The dashboard's chart: an SVG written here (bars and a line need no charting library) rendered to PNG
 * by resvg compiled to WebAssembly (@resvg/resvg-wasm: installs from the npm registry as plain files,
 * no native binary, no download at install or run time). Text uses Roboto from
 * @expo-google-fonts/roboto (TTF files in the package; resvg-wasm cannot read system fonts).
 * Both load on the first chart only: nothing here is imported on the webhook's hot path.
 */

const W = 1000;
const H = 560;
const PAD = { left: 64, right: 72, top: 64, bottom: 92 };
const COLORS = ['#e4572e', '#f3a712', '#29335c', '#669bbc', '#a8c686', '#8e6c8a', '#d1495b', '#00798c'];
const SINK_COLORS = ['#6c757d', '#343a40', '#adb5bd', '#495057', '#ced4da'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceMax(v: number): number {
  if (v <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const shortDay = (d: string) => `${Number(d.slice(8, 10))}/${Number(d.slice(5, 7))}`;

/** The chart as SVG: earned per source stacked above the axis, spent per sink below, money supply as a line. */
export function dashboardSvg(d: EconomyDashboard, title = 'Economía de besitos'): string {
  const n = d.days.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const earnedDay = d.days.map((_, i) => d.earned.reduce((s, x) => s + x.perDay[i]!, 0));
  const spentDay = d.days.map((_, i) => d.spent.reduce((s, x) => s + x.perDay[i]!, 0) + d.reversed.perDay[i]!);
  const up = niceMax(Math.max(...earnedDay, 1));
  const down = niceMax(Math.max(...spentDay, 1));
  const total = up + down;
  const zeroY = PAD.top + (up / total) * plotH;
  const yOf = (v: number) => zeroY - (v / total) * plotH;
  const slot = plotW / n;
  const barW = Math.max(2, slot * 0.7);
  const xOf = (i: number) => PAD.left + i * slot + (slot - barW) / 2;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Roboto">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${PAD.left}" y="32" font-size="22" font-weight="bold" fill="#212529">${esc(title)}</text>`);
  out.push(
    `<text x="${PAD.left}" y="52" font-size="13" fill="#495057">${esc(`${shortDay(d.days[0]!)} – ${shortDay(d.days[n - 1]!)} · ganados ${num(d.totals.earned)} · gastados ${num(d.totals.spent)} · en circulación ${num(d.supply.now)}`)}</text>`,
  );
  // grid and left axis (besitos per day)
  for (const v of [up, up / 2, 0, -down / 2, -down]) {
    const y = yOf(v);
    out.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${v === 0 ? '#212529' : '#dee2e6'}" stroke-width="${v === 0 ? 1.2 : 1}"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#495057">${esc(num(Math.abs(Math.round(v))))}</text>`);
  }
  // stacked bars
  d.days.forEach((_, i) => {
    let acc = 0;
    d.earned.forEach((s, k) => {
      const v = s.perDay[i]!;
      if (v <= 0) return;
      out.push(`<rect x="${xOf(i).toFixed(1)}" y="${yOf(acc + v).toFixed(1)}" width="${barW.toFixed(1)}" height="${((v / total) * plotH).toFixed(1)}" fill="${COLORS[k % COLORS.length]}"/>`);
      acc += v;
    });
    let neg = 0;
    [...d.spent, d.reversed].forEach((s, k) => {
      const v = s.perDay[i]!;
      if (v <= 0) return;
      const color = s === d.reversed ? '#b5179e' : SINK_COLORS[k % SINK_COLORS.length];
      out.push(`<rect x="${xOf(i).toFixed(1)}" y="${yOf(-neg).toFixed(1)}" width="${barW.toFixed(1)}" height="${((v / total) * plotH).toFixed(1)}" fill="${color}"/>`);
      neg += v;
    });
  });
  // money supply on the right axis
  const supMax = niceMax(Math.max(...d.supply.endOfDay, 1));
  const ySup = (v: number) => PAD.top + plotH - (v / supMax) * plotH;
  const pts = d.supply.endOfDay.map((v, i) => `${(PAD.left + i * slot + slot / 2).toFixed(1)},${ySup(v).toFixed(1)}`).join(' ');
  out.push(`<polyline points="${pts}" fill="none" stroke="#0b6e4f" stroke-width="2.5"/>`);
  for (const v of [supMax, supMax / 2, 0]) {
    out.push(`<text x="${W - PAD.right + 6}" y="${(ySup(v) + 4).toFixed(1)}" font-size="11" fill="#0b6e4f">${esc(num(Math.round(v)))}</text>`);
  }
  // day labels (at most ~15)
  const every = Math.max(1, Math.ceil(n / 15));
  d.days.forEach((day, i) => {
    if ((n - 1 - i) % every !== 0) return; // anchored at today, evenly spaced
    out.push(`<text x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${H - PAD.bottom + 16}" font-size="11" text-anchor="middle" fill="#495057">${shortDay(day)}</text>`);
  });
  // legend
  const legend: [string, string][] = [
    ...d.earned.slice(0, COLORS.length).map((s, k) => [COLORS[k % COLORS.length]!, `+ ${sourceName(s.source)}`] as [string, string]),
    ...d.spent.slice(0, SINK_COLORS.length).map((s, k) => [SINK_COLORS[k % SINK_COLORS.length]!, `− ${sourceName(s.source)}`] as [string, string]),
    ...(d.reversed.total > 0 ? [['#b5179e', '− revertidos'] as [string, string]] : []),
    ['#0b6e4f', 'en circulación (eje derecho)'],
  ];
  let lx = PAD.left;
  let ly = H - PAD.bottom + 40;
  for (const [color, label] of legend) {
    const w = 22 + label.length * 6.6;
    if (lx + w > W - PAD.right) {
      lx = PAD.left;
      ly += 20;
    }
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly}" font-size="12" fill="#212529">${esc(label)}</text>`);
    lx += w + 10;
  }
  out.push(`</svg>`);
  return out.join('\n');
}

interface Renderer {
  Resvg: typeof import('@resvg/resvg-wasm').Resvg;
  fonts: Uint8Array[];
}
let renderer: Promise<Renderer> | undefined;

function loadRenderer(): Promise<Renderer> {
  renderer ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasm = await import('@resvg/resvg-wasm');
    await wasm.initWasm(readFile(require.resolve('@resvg/resvg-wasm/index_bg.wasm')));
    const fonts = await Promise.all(
      ['400Regular/Roboto_400Regular.ttf', '700Bold/Roboto_700Bold.ttf'].map(async (f) => new Uint8Array(await readFile(require.resolve(`@expo-google-fonts/roboto/${f}`)))),
    );
    return { Resvg: wasm.Resvg, fonts };
  })();
  renderer.catch(() => {
    renderer = undefined;
  });
  return renderer;
}

/** SVG → PNG (the first call loads the WebAssembly module and the fonts, ~100 ms; later ones reuse them). */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg, fonts } = await loadRenderer();
  const r = new Resvg(svg, { font: { fontBuffers: fonts, defaultFontFamily: 'Roboto', sansSerifFamily: 'Roboto' }, background: '#ffffff' });
  const png = r.render().asPng();
  r.free();
  return Buffer.from(png);
}

export async function dashboardPng(d: EconomyDashboard, title?: string): Promise<Buffer> {
  return svgToPng(dashboardSvg(d, title));
}
