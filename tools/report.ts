// tsclab report: one self-contained HTML page (inline SVG and CSS, no
// external resources) with, for each vCPU, its guest clocks minus real time
// against real time on a symmetric log scale (±1 ns to ±days on one axis, ticks
// and gridlines with units), the timeline's events and the anomalies marked:
// markers within 10 px grouped, their labels placed in free rows so none
// overlaps, each marker's title listing its anomalies in real units and the
// guest's log lines around it. Numbers are scaled for drawing only after exact
// BigInt arithmetic; the tables print the exact values. (Still hand-written SVG:
// no zoom, pan or clock toggles; a charting library is the next step.)
import type { Scenario } from '../sim/scenario.js';
import type { RunResult } from '../sim/types.js';
import { Machine } from '../sim/machine.js';
import type { Kernel } from '../bindings/index.js';
import { renderLog, summarize } from '../sim/summary.js';
import { nsOf, seconds } from '../sim/units.js';
import { fmtDuration } from './fmt.js';
import { fmtSize, fmtT } from './explain.js';

export interface Traced { result: RunResult; trace: Machine['trace']; tscKhz: number }

/** Runs the scenario with tracing (about 400 points per vCPU over the observed span). */
export function runTraced(s: Scenario, kernel?: Kernel): Traced {
  const m = new Machine(s, kernel);
  const span = s.until - s.observe.from;
  m.traceEvery = span / 400n > 0n ? span / 400n : 1n;
  const result = m.run();
  return { result, trace: m.trace, tscKhz: m.guest.tscKhz || m.host.khz };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const W = 1000, PANEL = 190, LEFT = 96, RIGHT = 20, LANE = 16, LABEL_ROWS = 3;
/** A label's width estimate (px) for placement: wider than the 10-11 px sans text it bounds. */
const textW = (s: string) => s.length * 6.6 + 6;

/**
 * Greedy label placement: each label (sorted by x) takes the first of `rows` rows where it overlaps nothing placed;
 * with none free it is shortened to a count ("+3") in the row whose last label ends earliest, or dropped to the
 * marker's title only when even that overlaps. Returns the row of each (or -1).
 */
export function placeLabels(items: { x: number; w: number }[], rows: number, minX: number, maxX: number): number[] {
  const ends: number[][] = Array.from({ length: rows }, () => []);
  return items.map((it) => {
    const x0 = Math.max(minX, Math.min(it.x, maxX - it.w)), x1 = x0 + it.w;
    for (let r = 0; r < rows; r++) {
      if (ends[r].every((e) => e <= x0 - 4)) { ends[r].push(x1); return r; }
    }
    return -1;
  });
}

/** Symmetric log: sign(d) * log10(1 + |d| / 1 ns): nanosecond effects and second-size leaps on one axis. */
const symlog = (d: bigint) => (d < 0n ? -1 : 1) * Math.log10(1 + Number(d < 0n ? -d : d));
/** Ticks of a symlog axis: 0 and ±10^k ns whose labels do not collide (at least 13 px apart). */
function symlogTicks(lo: number, hi: number, y: (v: number) => number): { v: number; label: string }[] {
  const out: { v: number; label: string }[] = [{ v: 0, label: '0' }];
  const unit = (k: number) => (k >= 9 ? `${10 ** (k - 9)} s` : k >= 6 ? `${10 ** (k - 6)} ms` : k >= 3 ? `${10 ** (k - 3)} µs` : `${10 ** k} ns`);
  for (const sign of [1, -1]) {
    let lastY = y(0);
    for (let k = 0; k <= 18; k++) {
      const v = sign * Math.log10(1 + 10 ** k);
      if (v < lo || v > hi) continue;
      if (Math.abs(y(v) - lastY) < 13) continue;
      lastY = y(v);
      out.push({ v, label: `${sign < 0 ? '-' : '+'}${unit(k)}` });
    }
  }
  return out;
}

/** Real-time ticks: a round step that gives 5-10 of them, labelled in the unit that fits. */
function timeTicks(t0: bigint, t1: bigint): bigint[] {
  const span = t1 - t0 || 1n;
  let step = 1n;
  for (const m of [1n, 2n, 5n]) for (let e = 0n; e < 19n; e++) { const st = m * 10n ** e; if (span / st <= 8n && (step === 1n || st < step)) step = st; }
  const out: bigint[] = [];
  for (let t = ((t0 + step - 1n) / step) * step; t <= t1; t += step) out.push(t);
  return out;
}

export function renderReport(s: Scenario, { result, trace, tscKhz }: Traced): string {
  const t0 = s.observe.from, t1 = s.until;
  const x = (t: bigint) => LEFT + Number(((t - t0) * BigInt(W - LEFT - RIGHT) * 1000n) / (t1 - t0 || 1n)) / 1000;
  const vcpus = [...new Set(trace.map((p) => p.vcpu))].sort((a, b) => a - b);
  // kvmclock drawn wide and dashed under sched_clock (they coincide when sched_clock reads kvm-clock)
  const clocks = [
    { key: 'kvmclock' as const, label: 'kvmclock', color: '#1b9e77', width: 4, dash: '6 3', ns: (v: bigint) => v },
    { key: 'tsc' as const, label: 'tsc', color: '#d95f02', width: 1.5, dash: '', ns: (v: bigint) => nsOf(v, tscKhz) },
    { key: 'schedClock' as const, label: 'sched_clock', color: '#7570b3', width: 1.5, dash: '', ns: (v: bigint) => v },
  ];
  const evTop = 20, eventRows = LABEL_ROWS, top = evTop + eventRows * LANE + 8;
  const panels: string[] = [];
  const anomalyRows = LABEL_ROWS;
  const panelH = PANEL + anomalyRows * LANE;
  const inWindow = (t: bigint) => t >= t0 && t <= t1;
  /** Anomalies (or events) within 10 px of one another: one marker, its types as one label, each item in its title. */
  const group = <T extends { t: bigint }>(items: T[]) => {
    const sorted = [...items].sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    const out: T[][] = [];
    for (const it of sorted) {
      const last = out[out.length - 1];
      if (last && x(it.t) - x(last[0].t) < 10) last.push(it); else out.push([it]);
    }
    return out;
  };
  const nearLog = (t: bigint, vcpu?: number) => result.log.filter((l) => l.source === 'guest' && (vcpu === undefined || l.vcpu === vcpu) &&
    l.t >= t - 1_000_000_000n && l.t <= t + 1_000_000_000n).slice(0, 3).map((l) => l.text);
  const labelOf = (types: string[]) => {
    const counts = new Map<string, number>();
    for (const t of types) counts.set(t, (counts.get(t) ?? 0) + 1);
    return [...counts].map(([t, n]) => ({ t, n }));
  };
  const labelText = (parts: { t: string; n: number }[]) => parts.map((p) => `${p.t}${p.n > 1 ? ` ×${p.n}` : ''}`).join(', ');
  const labelSvg = (parts: { t: string; n: number }[]) => parts.map((p, i) => `${i ? '<tspan>, </tspan>' : ''}<tspan>${esc(p.t)}</tspan>${p.n > 1 ? `<tspan> ×${p.n}</tspan>` : ''}`).join('');

  const ticksT = timeTicks(t0, t1);
  const rowsTotal = top + vcpus.length * panelH;
  const grid = ticksT.map((t) => `<line class="grid" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top}" y2="${rowsTotal}"/>` +
    `<text class="tick" x="${x(t).toFixed(1)}" y="${rowsTotal + 12}" text-anchor="middle">${esc(fmtDuration(t))}</text>`);

  vcpus.forEach((v, row) => {
    const y0 = top + row * panelH, pts = trace.filter((p) => p.vcpu === v);
    const series = clocks.map((c) => {
      const base = pts.length ? c.ns(pts[0][c.key]) - pts[0].t : 0n;
      return { ...c, pts: pts.map((p) => ({ t: p.t, d: BigInt.asIntN(64, c.ns(p[c.key]) - p.t - base) })) };
    }).filter((sr) => sr.key !== 'kvmclock' || s.vm.guest.kvmclock);
    const all = series.flatMap((sr) => sr.pts.map((p) => symlog(p.d)));
    let lo = Math.min(0, ...all), hi = Math.max(0, ...all);
    if (hi - lo < 1) { hi += 0.5; lo -= 0.5; }
    const plotTop = y0 + 16, plotH = PANEL - 30;
    const y = (v2: number) => plotTop + ((hi - v2) / (hi - lo)) * plotH;
    panels.push(`<g class="vcpu" data-vcpu="${v}"><text x="4" y="${y0 + 12}" class="label">vCPU ${v}</text>`);
    for (const tk of symlogTicks(lo, hi, y)) {
      panels.push(`<line class="${tk.v === 0 ? 'zero' : 'grid'}" x1="${LEFT}" x2="${W - RIGHT}" y1="${y(tk.v).toFixed(1)}" y2="${y(tk.v).toFixed(1)}"/>` +
        `<text class="tick" x="${LEFT - 4}" y="${(y(tk.v) + 3).toFixed(1)}" text-anchor="end">${esc(tk.label)}</text>`);
    }
    for (const sr of series) {
      const d = sr.pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(symlog(p.d)).toFixed(1)}`).join(' ');
      panels.push(`<path class="clock ${sr.label}" d="${d}" stroke="${sr.color}" stroke-width="${sr.width}"${sr.dash ? ` stroke-dasharray="${sr.dash}" stroke-opacity="0.6"` : ''}>` +
        `<title>vCPU ${v} ${sr.label} minus real time (symlog scale)</title></path>`);
    }
    const groups = group(result.anomalies.filter((a) => a.vcpu === v && inWindow(a.t)));
    const labels = groups.map((g) => labelOf(g.map((a) => a.type)));
    const place = placeLabels(groups.map((g, i) => ({ x: x(g[0].t) + 6, w: textW(labelText(labels[i])) })), anomalyRows, LEFT, W - RIGHT);
    groups.forEach((g, i) => {
      const mx = x(g[0].t), r = place[i];
      const lx = Math.max(LEFT, Math.min(mx + 6, W - RIGHT - textW(labelText(labels[i]))));
      const ly = y0 + PANEL + r * LANE;
      const title = g.map((a) => `${fmtT(a.t)} ${a.type}${a.clock ? ` (${a.clock})` : ''}: ${fmtSize(a, tscKhz)}${a.reason ? ` -- ${a.reason}` : ''}`)
        .concat(nearLog(g[0].t, v).map((l) => `log: ${l}`)).join('\n');
      panels.push(`<g class="anomaly" data-type="${g[0].type}" data-count="${g.length}"><line x1="${mx.toFixed(1)}" x2="${mx.toFixed(1)}" y1="${plotTop}" y2="${(y0 + PANEL - 6).toFixed(1)}" class="amark"/>` +
        `<circle cx="${mx.toFixed(1)}" cy="${y0 + PANEL - 6}" r="4"/>` +
        (r >= 0 ? `<text class="alabel boxed" x="${lx.toFixed(1)}" y="${ly + 4}">${labelSvg(labels[i])}</text>` : '') +
        `<title>${esc(title)}</title></g>`);
    });
    panels.push('</g>');
  });
  // the timeline's events (VMM actions) on the top lane, grouped like the anomalies
  const evGroups = group(s.events.filter((e) => inWindow(e.at)).map((e) => ({ ...e, t: e.at })));
  const evLabels = evGroups.map((g) => labelOf(g.map((e) => e.do)));
  const evPlace = placeLabels(evGroups.map((g, i) => ({ x: x(g[0].t) + 3, w: textW(labelText(evLabels[i])) })), eventRows, LEFT, W - RIGHT);
  const events = evGroups.map((g, i) => {
    const ex = x(g[0].t), r = evPlace[i];
    const lx = Math.max(LEFT, Math.min(ex + 3, W - RIGHT - textW(labelText(evLabels[i]))));
    const title = g.map((e) => `${fmtT(e.t)} ${e.do}`).concat(result.log.filter((l) => l.source !== 'guest' && l.t === g[0].t).map((l) => `${l.source}: ${l.text}`)).join('\n');
    return `<g class="event" data-do="${g[0].do}" data-count="${g.length}"><line x1="${ex.toFixed(1)}" x2="${ex.toFixed(1)}" y1="${evTop + (Math.max(r, 0) + 1) * LANE - 4}" y2="${rowsTotal}"/>` +
      (r >= 0 ? `<text class="elabel boxed" x="${lx.toFixed(1)}" y="${evTop + r * LANE + 8}">${labelSvg(evLabels[i])}</text>` : '') + `<title>${esc(title)}</title></g>`;
  });
  const global = group(result.anomalies.filter((a) => a.vcpu === undefined && inWindow(a.t))).map((g) =>
    `<g class="anomaly" data-type="${g[0].type}" data-count="${g.length}"><rect x="${(x(g[0].t) - 4).toFixed(1)}" y="${top - 10}" width="8" height="8"/>` +
    `<title>${esc(g.map((a) => `${fmtT(a.t)} ${a.type}${a.reason ? `: ${a.reason}` : ''}`).join('\n'))}</title></g>`);
  const h = rowsTotal + 34;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="clocks minus real time per vCPU">
<text x="${W - RIGHT}" y="${h - 4}" class="tick" text-anchor="end">real time since the VM started</text>
<text x="4" y="12" class="tick">VMM actions</text>
${grid.join('\n')}
${events.join('\n')}
${panels.join('\n')}
${global.join('\n')}
</svg>`;
  const rows = result.anomalies.map((a) => `<tr><td>${esc(seconds(a.t))}</td><td>${esc(a.type)}</td><td>${a.vcpu ?? ''}</td><td>${esc(a.clock ?? '')}</td><td>${a.size} ${a.unit}</td><td>${a.count}</td><td>${esc(a.reason ?? '')}</td></tr>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tsclab: ${esc(s.name)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
svg { border: 1px solid #ccc; background: #fff; }
.label { font-weight: 600; } .scale { font-size: 10px; fill: #666; }
.zero { stroke: #999; } .grid { stroke: #eee; } .tick { font-size: 10px; fill: #555; }
.clock { fill: none; }
.event line { stroke: #555; stroke-dasharray: 4 3; } .event text { font-size: 11px; fill: #333; }
.anomaly circle, .anomaly rect { fill: #c00; } .anomaly text { font-size: 10px; fill: #c00; } .amark { stroke: #c00; stroke-opacity: .35; }
.legend span { display: inline-block; margin-right: 1.2em; } .legend i { display: inline-block; width: 1.5em; height: 3px; vertical-align: middle; margin-right: .3em; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
pre { background: #f6f6f6; padding: .6em; font-size: 12px; max-height: 30em; overflow: auto; }
</style></head>
<body>
<h1>${esc(s.name)}</h1>
<p>${esc(s.description)}</p>
<p class="legend">${clocks.filter((c) => c.key !== "kvmclock" || s.vm.guest.kvmclock).map((c) => `<span><i style="background:${c.color}"></i>${c.label} minus real time</span>`).join('')}<span><i style="background:#c00"></i>anomaly</span> (each vCPU's clocks relative to their first sample, on a symmetric log scale: ±1 ns to ±days on one axis; hover a marker for its values and log lines)</p>
${svg}
<h2>Anomalies: ${esc(summarize(result))}</h2>
<table><tr><th>real time (s)</th><th>type</th><th>vCPU</th><th>clock</th><th>size</th><th>count</th><th>reason</th></tr>
${rows.join('\n')}
</table>
<h2>Guest log</h2>
<pre>${esc(renderLog(result.log).join('\n'))}</pre>
<script>
// After rendering: how many markers have a real box on the page (read by the tests through headless Chromium).
const drawn = [...document.querySelectorAll('.anomaly, .event')].filter((g) => { const b = g.getBBox(); return b.width > 0 && b.height > 0; });
document.body.dataset.rendered = String(drawn.length);
// label boxes that overlap (none expected), and how many anomalies the markers carry
const boxes = [...document.querySelectorAll('.boxed')].map((t) => t.getBoundingClientRect());
let overlaps = 0;
boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => { if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++; }));
document.body.dataset.overlaps = String(overlaps);
document.body.dataset.labels = String(boxes.length);
document.body.dataset.marked = String([...document.querySelectorAll('.anomaly')].reduce((n, g) => n + Number(g.dataset.count), 0));
</script>
</body></html>
`;
}
