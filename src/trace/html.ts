// A build's timeline as one self-contained HTML page: open trace.html in any
// browser, offline. Everything is inline (CSS, script, data) and a Content
// Security Policy forbids every network load, so a trace copied off a CI box
// shows the same thing anywhere and phones home to nobody.
//
// The bars are laid out here, in percentages of the build's wall time, so the
// page is readable without script and resizes without re-layout; the inline
// script only adds the rich hover card.
import type { Outcome, TaskRecord } from "./record";
import { OUTCOMES } from "./record";
import { layoutBuild, formatDuration, type Layout, type PlacedTask } from "./layout";
import { countTasks, formatCounts } from "./summary";

const COLOURS: Record<Outcome, string> = {
  ran: "#3b82f6",
  failed: "#ef4444",
  skipped: "#9ca3af",
  "restored-exact": "#22c55e",
  "restored-fuzzy": "#14b8a6",
  interrupted: "#f97316",
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that can sit inside <script>: no "</script>", no "<!--", no JS line separators. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

export function traceHtml(buildId: string, records: TaskRecord[]): string {
  const layout = layoutBuild(records);
  const span = layout.span > 0 ? layout.span : 1;
  const pct = (ms: number) => `${((ms / span) * 100).toFixed(4)}%`;
  const id = escapeHtml(buildId);

  const rows = layout.tracks.map((track, i) => {
    const bars = layout.tasks.map((t, n) => ({ t, n })).filter(({ t }) => t.track === i);
    return (
      `<div class="track"><div class="track-name" title="${escapeHtml(track.name)}">${escapeHtml(track.name)}</div>` +
      `<div class="lanes" style="--n:${track.lanes}">${bars.map(({ t, n }) => bar(t, n, pct)).join("")}</div></div>`
    );
  });
  const ticks = axisTicks(span).map(
    (t) => `<span class="tick" style="left:${pct(t.at)}"><b>${escapeHtml(t.label)}</b></span>`,
  );
  const grid = axisTicks(span).map((t) => `<span style="left:${pct(t.at)}"></span>`);
  const legend = OUTCOMES.map((o) => {
    const n = records.filter((r) => r.outcome === o).length;
    return (
      `<li class="${n ? "" : "none"}"><span class="swatch" style="--c:${COLOURS[o]}"></span>` +
      `${o} <em>${n}</em></li>`
    );
  });
  const data = inlineJson({ buildId, tasks: layout.tasks.map((t) => details(t, layout)) });
  const summary =
    `${escapeHtml(formatCounts(countTasks(records)))} · wall time ${formatDuration(layout.span)}` +
    (records.length ? ` · started ${escapeHtml(new Date(layout.origin).toISOString())}` : "");

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>taskrunner build ${id}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>taskrunner build <span class="id">${id}</span></h1>
<p class="summary">${summary}</p>
<ul class="legend">${legend.join("")}${PHASE_KEY}</ul>
</header>
<main class="chart">
<div class="axis"><div class="gutter-head">Track</div><div class="ticks">${ticks.join("")}</div></div>
<div class="rows"><div class="grid">${grid.join("")}</div>${rows.join("") || EMPTY}</div>
</main>
<div id="tip" role="tooltip" hidden></div>
<script type="application/json" id="trace-data">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function bar(t: PlacedTask, n: number, pct: (ms: number) => string): string {
  const r = t.record;
  const dur = t.end - t.start;
  const phases =
    dur > 0
      ? t.phases.map((p) => {
          const left = (((p.start - t.start) / dur) * 100).toFixed(3);
          const width = (((p.end - p.start) / dur) * 100).toFixed(3);
          return `<span class="phase p-${escapeHtml(p.name)}" style="left:${left}%;width:${width}%"></span>`;
        })
      : [];
  // The title is for readers without script; the script swaps it for the card.
  const title = [
    `${r.job}: ${r.outcome}, exit code ${r.exitCode}, ${formatDuration(dur)}`,
    ...t.phases.map((p) => `  ${p.name} ${formatDuration(p.end - p.start)}`),
    ...(r.explain ?? []),
  ].join("\n");
  const colour = COLOURS[r.outcome] ?? COLOURS.ran;
  return (
    `<div class="task-bar" tabindex="0" data-i="${n}" ` +
    `data-job="${escapeHtml(r.job)}" data-outcome="${escapeHtml(r.outcome)}" ` +
    `title="${escapeHtml(title)}" style="left:${pct(t.start)};width:${pct(dur)};--d:${t.depth};--c:${colour}">` +
    `${phases.join("")}<span class="label">${escapeHtml(r.job)}<small>${formatDuration(dur)}</small></span></div>`
  );
}

/** What the hover card shows, precomputed so the script stays dumb. */
function details(t: PlacedTask, layout: Layout) {
  const r = t.record;
  const dur = t.end - t.start;
  return {
    job: r.job,
    outcome: r.outcome,
    colour: COLOURS[r.outcome] ?? COLOURS.ran,
    exitCode: r.exitCode,
    parent: r.parent,
    pid: r.pid,
    at: `+${formatDuration(t.start)}`,
    duration: formatDuration(dur),
    track: layout.tracks[t.track].name,
    phases: t.phases.map((p) => ({
      name: p.name,
      duration: formatDuration(p.end - p.start),
      share: dur > 0 ? (p.end - p.start) / dur : 0,
    })),
    explain: r.explain ?? [],
  };
}

/** Round-numbered ticks (1, 2, 5 × 10^k, or whole seconds and minutes), 5 to 10 of them. */
export function axisTicks(span: number): { at: number; label: string }[] {
  const steps = [
    0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5,
    36e5, 72e5,
  ];
  const step = steps.find((s) => span / s <= 10) ?? Math.ceil(span / 10 / 36e5) * 36e5;
  const ticks: { at: number; label: string }[] = [];
  for (let i = 0; i * step <= span + 1e-9; i++) ticks.push({ at: i * step, label: tickLabel(i * step, step, span) });
  return ticks;
}

function tickLabel(ms: number, step: number, span: number): string {
  if (ms === 0) return "0";
  if (span < 1000) return `${+ms.toFixed(step < 1 ? 1 : 0)} ms`;
  if (span < 120_000) return `${+(ms / 1000).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1000))))} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s / 60}m`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

const CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  "script-src 'unsafe-inline'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

const PHASE_KEY =
  '<li class="phase-key"><span class="mini"><i></i></span>' +
  "lighter segments: phases (hash, restore, run, upload, post-unpack)</li>";

const EMPTY = '<p class="empty">No task records in this build.</p>';

const CSS = `
:root{
  --bg:#f6f7f9;
  --panel:#fff;
  --fg:#1d2230;
  --muted:#6b7280;
  --line:#e5e7eb;
  --alt:#fafbfc;
  --gutter:168px;
  --lane:26px;
  --gap:4px
}
@media (prefers-color-scheme:dark){
  :root{--bg:#111318;--panel:#181b22;--fg:#e5e7ee;--muted:#9aa1ad;--line:#2a2f3a;--alt:#1c1f27}
}
*{box-sizing:border-box}
body{
  margin:0;
  padding:0 0 24px;
  font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;
  background:var(--bg);
  color:var(--fg)
}
header{padding:20px 24px 12px}
h1{font-size:18px;font-weight:650;margin:0 0 2px}
h1 .id{font:500 15px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);margin-left:4px}
.summary{color:var(--muted);margin:0 0 12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;list-style:none;margin:0;padding:0}
.legend li{display:flex;align-items:center;gap:6px}
.legend li.none{opacity:.45}
.legend em{font-style:normal;color:var(--muted);font-variant-numeric:tabular-nums}
.swatch{width:12px;height:12px;border-radius:3px;background:var(--c)}
.phase-key{color:var(--muted)}
.mini{position:relative;width:30px;height:14px;border-radius:3px;background:#3b82f6}
.mini i{position:absolute;left:3px;width:12px;bottom:2px;height:4px;border-radius:2px;background:rgb(255 255 255/.6)}
.chart{
  margin:0 24px;
  background:var(--panel);
  border:1px solid var(--line);
  border-radius:10px;
  overflow:clip;
  box-shadow:0 1px 2px rgb(0 0 0/.04)
}
.axis{
  display:flex;
  position:sticky;
  top:0;
  z-index:3;
  height:30px;
  background:var(--panel);
  border-bottom:1px solid var(--line)
}
.gutter-head{
  width:var(--gutter);
  flex:none;
  padding:8px 14px;
  color:var(--muted);
  font-size:11px;
  font-weight:600;
  letter-spacing:.05em;
  text-transform:uppercase
}
.ticks{position:relative;flex:1;margin-right:28px}
.tick{position:absolute;bottom:0;height:5px;border-left:1px solid var(--muted)}
.tick b{
  position:absolute;
  bottom:7px;
  transform:translateX(-50%);
  font-size:11px;
  font-weight:500;
  color:var(--muted);
  white-space:nowrap;
  font-variant-numeric:tabular-nums
}
.rows{position:relative}
.grid{position:absolute;top:0;bottom:0;left:var(--gutter);right:28px;pointer-events:none}
.grid span{position:absolute;top:0;bottom:0;border-left:1px dashed var(--line)}
.track{display:flex;border-bottom:1px solid var(--line)}
.track:last-child{border-bottom:0}
.track:nth-child(odd){background:var(--alt)}
.track-name{
  width:var(--gutter);
  flex:none;
  padding:10px 14px;
  font-size:12px;
  color:var(--muted);
  white-space:nowrap;
  overflow:hidden;
  text-overflow:ellipsis
}
.lanes{position:relative;flex:1;margin:7px 28px 7px 0;height:calc(var(--n) * (var(--lane) + var(--gap)) - var(--gap))}
.task-bar{
  position:absolute;
  top:calc(var(--d) * (var(--lane) + var(--gap)));
  height:var(--lane);
  min-width:3px;
  border-radius:5px;
  background:var(--c);
  color:#fff;
  overflow:hidden;
  box-shadow:inset 0 0 0 1px rgb(0 0 0/.12);
  cursor:default
}
.task-bar:hover,.task-bar:focus-visible{outline:2px solid var(--fg);outline-offset:1px;z-index:2}
.phase{
  position:absolute;
  bottom:3px;
  height:6px;
  border-radius:2px;
  border-right:1px solid var(--c);
  background:rgb(255 255 255/.55)
}
.phase.p-run{background:rgb(255 255 255/.32)}
.phase.p-restore,.phase.p-upload{background:rgb(255 255 255/.8)}
.label{
  position:relative;
  display:block;
  padding:0 8px;
  line-height:calc(var(--lane) - 6px);
  font-size:12px;
  font-weight:600;
  white-space:nowrap;
  overflow:hidden;
  text-overflow:ellipsis;
  text-shadow:0 1px 1px rgb(0 0 0/.3)
}
.label small{margin-left:7px;font-weight:400;opacity:.9}
.empty{padding:24px;color:var(--muted);margin:0}
#tip{
  position:fixed;
  z-index:10;
  max-width:440px;
  min-width:220px;
  padding:10px 12px;
  background:var(--panel);
  color:var(--fg);
  border:1px solid var(--line);
  border-radius:9px;
  box-shadow:0 10px 30px rgb(0 0 0/.2);
  pointer-events:none;
  font-size:12px
}
#tip[hidden]{display:none}
#tip h2{display:flex;align-items:center;gap:8px;margin:0 0 8px;font-size:14px;word-break:break-all}
.pill{flex:none;padding:1px 8px;border-radius:999px;background:var(--c);color:#fff;font-size:11px;font-weight:600}
#tip dl{display:grid;grid-template-columns:auto 1fr;gap:2px 14px;margin:0}
#tip dt{color:var(--muted)}
#tip dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-all}
#tip table{width:100%;margin-top:8px;border-collapse:collapse;font-variant-numeric:tabular-nums}
#tip td{padding:1px 0}
#tip td.num{text-align:right;padding:0 10px;white-space:nowrap}
#tip td.meter{width:40%}
#tip td.meter i{display:block;height:6px;min-width:1px;border-radius:3px;background:var(--c);opacity:.7}
#tip pre{
  margin:8px 0 0;
  padding:6px 8px;
  border-radius:5px;
  background:var(--alt);
  border:1px solid var(--line);
  font:11px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  white-space:pre-wrap;
  word-break:break-word
}
`;

// Builds the card with textContent only: job names and explain lines are data.
const SCRIPT = `(() => {
  const data = JSON.parse(document.getElementById("trace-data").textContent);
  const tip = document.getElementById("tip");
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  for (const b of document.querySelectorAll(".task-bar")) b.removeAttribute("title");
  const fill = (t) => {
    tip.replaceChildren();
    tip.style.setProperty("--c", t.colour);
    const h = el("h2"); h.append(el("span", "job", t.job), el("span", "pill", t.outcome)); tip.append(h);
    const dl = el("dl");
    const rows = [
      ["exit code", t.exitCode],
      ["duration", t.duration],
      ["started", t.at],
      ["parent", t.parent === null ? "(toplevel)" : t.parent],
      ["track", t.track],
      ["pid", t.pid]
    ];
    for (const [k, v] of rows) dl.append(el("dt", "", k), el("dd", "", String(v)));
    tip.append(dl);
    if (t.phases.length) {
      const table = el("table");
      for (const p of t.phases) {
        const tr = el("tr"), meter = el("td", "meter"), fillBar = el("i");
        fillBar.style.width = (p.share * 100).toFixed(1) + "%"; meter.append(fillBar);
        tr.append(el("td", "", p.name), el("td", "num", p.duration), meter); table.append(tr);
      }
      tip.append(table);
    }
    if (t.explain.length) tip.append(el("pre", "", t.explain.join("\\n")));
  };
  let current = null;
  const show = (bar, x, y) => {
    if (current !== bar) { current = bar; fill(data.tasks[Number(bar.dataset.i)]); tip.hidden = false; }
    const r = tip.getBoundingClientRect(), pad = 14;
    let left = x + pad, top = y + pad;
    if (left + r.width > innerWidth - 8) left = Math.max(8, x - r.width - pad);
    if (top + r.height > innerHeight - 8) top = Math.max(8, y - r.height - pad);
    tip.style.left = left + "px"; tip.style.top = top + "px";
  };
  const hide = () => { current = null; tip.hidden = true; };
  const barAt = (e) => e.target instanceof Element ? e.target.closest(".task-bar") : null;
  document.addEventListener("mousemove", (e) => {
    const b = barAt(e);
    if (b) show(b, e.clientX, e.clientY);
    else if (current) hide();
  });
  document.addEventListener("mouseleave", hide);
  document.addEventListener("focusin", (e) => {
    const b = barAt(e);
    if (b) {
      const r = b.getBoundingClientRect();
      show(b, r.left, r.bottom);
    }
  });
  document.addEventListener("focusout", hide);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); });
})();`;
