import { useMemo } from "react";
import { query } from "../api";
import { HBars, StackedBars } from "../components/charts";
import { Empty, ErrorBanner, Loading, PageHeader, Section } from "../components/ui";
import { label, num } from "../lib/format";
import { useApi } from "../lib/useApi";
import { Link, navigate, useLocation } from "../router";
import type { Overview } from "../types";

const RANGES = [7, 14, 30, 90];

/** Labels and colours for decision counts, in display order; unknown keys follow in grey. */
const DECISIONS: [string, string, string][] = [
  ["allowed", "Allowed", "#3f8f6b"],
  ["allow", "Allowed", "#3f8f6b"],
  ["denied", "Denied by policy", "#c0504d"],
  ["deny", "Denied by policy", "#c0504d"],
  ["require_approval", "Held for approval", "#d08c2e"],
  ["approved", "Approved", "#2f5d8a"],
  ["approval_denied", "Approval denied", "#b5651d"],
  ["approval_pending", "Approval pending", "#e0b04a"],
  ["expired", "Approval expired", "#7f7f7f"],
];

function decisionItems(d: Record<string, number>) {
  const known = new Set(DECISIONS.map(([k]) => k));
  return [
    ...DECISIONS.filter(([k]) => k in d).map(([k, l, color]) => ({ label: l, value: d[k] ?? 0, color })),
    ...Object.entries(d)
      .filter(([k]) => !known.has(k))
      .map(([k, v]) => ({ label: label(k), value: v, color: "#9aa6b2" })),
  ];
}

export function OverviewPage() {
  const loc = useLocation();
  const days = Number(loc.search.get("days")) || 14;
  const { data, error, loading, reload } = useApi<Overview>(`/api/v1/overview${query({ days })}`);

  const stacks = useMemo(() => {
    if (!data) return null;
    const servers = [...new Set(data.calls_per_day.map((c) => c.server))].sort();
    const index = new Map(data.days.map((d, i) => [d, i]));
    const series = servers.map((name) => ({ name, values: new Array<number>(data.days.length).fill(0) }));
    for (const c of data.calls_per_day) {
      const i = index.get(c.day);
      const s = series.find((x) => x.name === c.server);
      if (i !== undefined && s) s.values[i] = (s.values[i] ?? 0) + c.calls;
    }
    return series;
  }, [data]);

  const totalCalls = data?.calls_per_day.reduce((s, c) => s + c.calls, 0) ?? 0;
  const maskedTotal = data ? Object.values(data.masked_by_type).reduce((s, n) => s + n, 0) : 0;
  const d = data?.decisions;
  const denied = d ? (d.denied ?? d.deny ?? 0) : 0;
  const approved = d?.approved ?? 0;

  return (
    <>
      <PageHeader
        title="Overview"
        subtitle={`Activity through the gateway in the last ${days} days (UTC days).`}
        actions={
          <div className="segmented" role="group" aria-label="Period">
            {RANGES.map((r) => (
              <button
                key={r}
                type="button"
                className={r === days ? "seg active" : "seg"}
                aria-pressed={r === days}
                onClick={() => navigate(`/${query({ days: r === 14 ? undefined : r })}`, { replace: true })}
              >
                {r} days
              </button>
            ))}
          </div>
        }
      />
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data ? <Loading what="the overview" /> : null}
      {data && d ? (
        <>
          <div className="stats">
            <Stat label="Sessions" value={data.sessions} to="/sessions" />
            <Stat label="People" value={data.people} />
            <Stat label="Tool calls" value={totalCalls} />
            <Stat label="Denied" value={denied} tone={denied ? "bad" : undefined} to="/sessions?decision=denied" />
            <Stat label="Approved" value={approved} to="/approvals?view=history" />
            <Stat label="Masked values" value={maskedTotal} to="/sessions?masked=true" />
          </div>
          <Section title="Calls per day by server" id="calls-per-day">
            {totalCalls === 0 || !stacks ? (
              <Empty title="No calls in this period">
                <p>
                  Point an MCP client at <code>/mcp/&lt;server&gt;</code> on this control plane; every call it makes through the
                  gateway is counted here.
                </p>
              </Empty>
            ) : (
              <StackedBars labels={data.days} series={stacks} title="Calls per day, stacked by server" />
            )}
          </Section>
          <div className="grid-2">
            <Section title="Decisions" id="decisions">
              {decisionItems(d).length ? (
                <HBars title="Decisions" unit="calls" items={decisionItems(d)} />
              ) : (
                <Empty title="No decisions in this period" />
              )}
            </Section>
            <Section title="Masked values by type" id="masked-by-type">
              {maskedTotal === 0 ? (
                <Empty title="Nothing was masked in this period">
                  <p>Responses that carry cards, e-mail addresses, keys or other sensitive values are masked and counted here.</p>
                </Empty>
              ) : (
                <HBars
                  title="Masked values by type"
                  unit="values"
                  items={Object.entries(data.masked_by_type)
                    .filter(([, n]) => n > 0)
                    .sort((a, b) => b[1] - a[1])
                    .map(([k, n]) => ({ label: label(k), value: n }))}
                />
              )}
            </Section>
          </div>
        </>
      ) : null}
    </>
  );
}

function Stat({ label: l, value, to, tone }: { label: string; value: number; to?: string; tone?: "bad" }) {
  const body = (
    <>
      <span className="stat-value">{num(value)}</span>
      <span className="stat-label">{l}</span>
    </>
  );
  return to ? (
    <Link to={to} className={`stat stat-link${tone ? ` stat-${tone}` : ""}`}>
      {body}
    </Link>
  ) : (
    <div className={`stat${tone ? ` stat-${tone}` : ""}`}>{body}</div>
  );
}
