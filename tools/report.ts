// tsclab report: one self-contained HTML page (inline SVG and CSS, no
// external resources) with, for each vCPU, its guest clocks minus real time
// against real time, the timeline's events and the anomalies marked and
// labelled. Numbers are scaled for drawing only after exact BigInt
// arithmetic; the tables print the exact values.
import type { Scenario } from '../sim/scenario.js';
import type { RunResult } from '../sim/types.js';
import { Machine } from '../sim/machine.js';
import type { Kernel } from '../bindings/index.js';
import { renderLog, summarize } from '../sim/summary.js';
import { nsOf, seconds } from '../sim/units.js';

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
const W = 1000, PANEL = 170, LEFT = 70, RIGHT = 20, TOP = 26;

export function renderReport(s: Scenario, { result, trace, tscKhz }: Traced): string {
  const t0 = s.observe.from, t1 = s.until;
  const x = (t: bigint) => LEFT + Number(((t - t0) * BigInt(W - LEFT - RIGHT) * 1000n) / (t1 - t0 || 1n)) / 1000;
  const vcpus = [...new Set(trace.map((p) => p.vcpu))].sort((a, b) => a - b);
  const clocks = [
    { key: 'tsc' as const, label: 'tsc', color: '#d95f02', ns: (v: bigint) => nsOf(v, tscKhz) },
    { key: 'kvmclock' as const, label: 'kvmclock', color: '#1b9e77', ns: (v: bigint) => v },
    { key: 'schedClock' as const, label: 'sched_clock', color: '#7570b3', ns: (v: bigint) => v },
  ];
  const panels: string[] = [];
  vcpus.forEach((v, row) => {
    const y0 = TOP + row * PANEL, pts = trace.filter((p) => p.vcpu === v);
    // each clock minus real time, relative to its first sample, so offsets and drifts show
    const series = clocks.map((c) => {
      const base = pts.length ? c.ns(pts[0][c.key]) - pts[0].t : 0n;
      return { ...c, pts: pts.map((p) => ({ t: p.t, d: BigInt.asIntN(64, c.ns(p[c.key]) - p.t - base) })) };
    });
    const all = series.flatMap((sr) => sr.pts.map((p) => p.d));
    let lo = all.reduce((a, b) => (b < a ? b : a), 0n), hi = all.reduce((a, b) => (b > a ? b : a), 0n);
    if (hi === lo) { hi += 1_000_000n; lo -= 1_000_000n; }
    const y = (d: bigint) => y0 + 12 + Number(((hi - d) * 1000n * BigInt(PANEL - 40)) / (hi - lo)) / 1000;
    panels.push(`<g class="vcpu" data-vcpu="${v}"><text x="4" y="${y0 + 14}" class="label">vCPU ${v}</text>`,
      `<text x="4" y="${y0 + 30}" class="scale">+${esc(seconds(hi))} s</text><text x="4" y="${y0 + PANEL - 26}" class="scale">${esc(seconds(lo))} s</text>`,
      `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(0n)}" y2="${y(0n)}" class="zero"/>`);
    for (const sr of series) {
      if (sr.key === 'kvmclock' && !s.vm.guest.kvmclock) continue;
      const d = sr.pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.d).toFixed(1)}`).join(' ');
      panels.push(`<path class="clock ${sr.label}" d="${d}" stroke="${sr.color}"><title>vCPU ${v} ${sr.label} minus real time</title></path>`);
    }
    for (const a of result.anomalies.filter((a) => a.vcpu === v && a.t >= t0 && a.t <= t1)) {
      panels.push(`<g class="anomaly" data-type="${a.type}"><circle cx="${x(a.t).toFixed(1)}" cy="${y0 + PANEL - 16}" r="5"/>` +
        `<text x="${(x(a.t) + 7).toFixed(1)}" y="${y0 + PANEL - 12}">${esc(a.type)}</text>` +
        `<title>${esc(`${a.type} at ${seconds(a.t)} s: ${a.size} ${a.unit}${a.clock ? ` (${a.clock})` : ''}`)}</title></g>`);
    }
  });
  const h = TOP + vcpus.length * PANEL + 10;
  const events = s.events.filter((e) => e.at >= t0 && e.at <= t1).map((e) =>
    `<g class="event" data-do="${e.do}"><line x1="${x(e.at).toFixed(1)}" x2="${x(e.at).toFixed(1)}" y1="${TOP - 6}" y2="${h - 10}"/>` +
    `<text x="${(x(e.at) + 3).toFixed(1)}" y="${TOP - 10}">${esc(e.do)}</text><title>${esc(`${e.do} at ${seconds(e.at)} s`)}</title></g>`);
  const global = result.anomalies.filter((a) => a.vcpu === undefined && a.t >= t0 && a.t <= t1).map((a) =>
    `<g class="anomaly" data-type="${a.type}"><rect x="${(x(a.t) - 4).toFixed(1)}" y="${h - 14}" width="8" height="8"/><title>${esc(`${a.type} at ${seconds(a.t)} s${a.reason ? `: ${a.reason}` : ''}`)}</title></g>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="clocks minus real time per vCPU">
<text x="${LEFT}" y="${h - 1}" class="scale">${esc(seconds(t0))} s</text><text x="${W - RIGHT - 120}" y="${h - 1}" class="scale">${esc(seconds(t1))} s (real time)</text>
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
.zero { stroke: #bbb; stroke-dasharray: 2 3; }
.clock { fill: none; stroke-width: 1.5; }
.event line { stroke: #555; stroke-dasharray: 4 3; } .event text { font-size: 11px; fill: #333; }
.anomaly circle, .anomaly rect { fill: #c00; } .anomaly text { font-size: 10px; fill: #c00; }
.legend span { display: inline-block; margin-right: 1.2em; } .legend i { display: inline-block; width: 1.5em; height: 3px; vertical-align: middle; margin-right: .3em; }
table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
pre { background: #f6f6f6; padding: .6em; font-size: 12px; max-height: 30em; overflow: auto; }
</style></head>
<body>
<h1>${esc(s.name)}</h1>
<p>${esc(s.description)}</p>
<p class="legend">${clocks.map((c) => `<span><i style="background:${c.color}"></i>${c.label} minus real time</span>`).join('')}<span><i style="background:#c00"></i>anomaly</span></p>
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
</script>
</body></html>
`;
}
