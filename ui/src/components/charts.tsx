// Hand-made SVG charts: a stacked bar chart and horizontal bars. Each bar has a <title> for
// hover, and each chart has a data table fallback for screen readers.
import { num } from "../lib/format";

export const PALETTE = ["#2f5d8a", "#5b9bd5", "#3f8f6b", "#d08c2e", "#8a5a9e", "#c0504d", "#4bacc6", "#7f7f7f"];

export interface StackSeries {
  name: string;
  values: number[];
}

/** A round tick step giving about four intervals up to `v` (integers only: these are counts). */
function niceStep(v: number): number {
  const raw = Math.max(1, v / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
  return 10 * p;
}

export function StackedBars({ labels, series, title }: { labels: string[]; series: StackSeries[]; title: string }) {
  const W = 720;
  const H = 240;
  const left = 44;
  const bottom = 28;
  const top = 10;
  const plotW = W - left - 8;
  const plotH = H - top - bottom;
  const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const step = niceStep(Math.max(1, ...totals));
  const max = Math.max(step, Math.ceil(Math.max(1, ...totals) / step) * step);
  const slot = plotW / Math.max(1, labels.length);
  const bar = Math.min(36, slot * 0.7);
  const ticks = Array.from({ length: Math.round(max / step) + 1 }, (_, i) => i * step);
  const every = Math.ceil(labels.length / 10);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        {ticks.map((t) => {
          const y = top + plotH - (t / max) * plotH;
          return (
            <g key={t}>
              <line x1={left} x2={W - 8} y1={y} y2={y} className="grid" />
              <text x={left - 6} y={y + 4} textAnchor="end" className="axis">
                {num(Math.round(t))}
              </text>
            </g>
          );
        })}
        {labels.map((l, i) => {
          let y = top + plotH;
          const x = left + i * slot + (slot - bar) / 2;
          return (
            <g key={l}>
              {series.map((s, k) => {
                const v = s.values[i] ?? 0;
                if (!v) return null;
                const h = (v / max) * plotH;
                y -= h;
                return (
                  <rect key={s.name} x={x} y={y} width={bar} height={h} fill={PALETTE[k % PALETTE.length]}>
                    <title>{`${l} · ${s.name}: ${num(v)} calls`}</title>
                  </rect>
                );
              })}
              {i % every === 0 ? (
                <text x={x + bar / 2} y={H - 10} textAnchor="middle" className="axis">
                  {l.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
        <line x1={left} x2={W - 8} y1={top + plotH} y2={top + plotH} className="baseline" />
      </svg>
      <figcaption className="legend">
        {series.map((s, k) => (
          <span key={s.name} className="legend-item">
            <span className="swatch" style={{ background: PALETTE[k % PALETTE.length] }} />
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

export function HBars({
  items,
  title,
  unit,
}: {
  items: { label: string; value: number; color?: string }[];
  title: string;
  unit: string;
}) {
  const max = Math.max(1, ...items.map((i) => i.value));
  return (
    <div className="hbars" role="table" aria-label={title}>
      {items.map((i, k) => (
        <div className="hbar-row" role="row" key={i.label}>
          <span className="hbar-label" role="rowheader">
            {i.label}
          </span>
          <span className="hbar-track" role="cell" title={`${i.label}: ${num(i.value)} ${unit}`}>
            <span
              className="hbar-fill"
              style={{ width: `${(i.value / max) * 100}%`, background: i.color ?? PALETTE[k % PALETTE.length] }}
            />
          </span>
          <span className="hbar-value" role="cell">
            {num(i.value)}
          </span>
        </div>
      ))}
    </div>
  );
}
