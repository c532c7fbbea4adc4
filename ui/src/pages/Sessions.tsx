import { useEffect, useState, type FormEvent } from "react";
import { ApiError, get, query, takeEarly } from "../api";
import { can, useMe } from "../auth";
import { Empty, ErrorBanner, Loading, PageHeader } from "../components/ui";
import { ago, duration, fromLocalInput, num, toLocalInput, utc } from "../lib/format";
import { useApi } from "../lib/useApi";
import { Link, navigate, useLocation } from "../router";
import type { ServerInfo, Session, SessionPage } from "../types";

const FILTERS = ["user", "server", "tool", "decision", "masked", "since", "until"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const PAGE = 50;

/** The first page's API path for a `/sessions?...` query (main.tsx starts it before React mounts). */
export function sessionsPath(search: URLSearchParams): string {
  return `/api/v1/sessions${query({ ...filtersFrom(search), limit: PAGE })}`;
}

function filtersFrom(search: URLSearchParams): Filters {
  const f = {} as Filters;
  for (const k of FILTERS) f[k] = search.get(k) ?? "";
  return f;
}

export function SessionsPage() {
  const me = useMe();
  const loc = useLocation();
  const filters = filtersFrom(loc.search);
  const key = query(filters);
  const [draft, setDraft] = useState<Filters>(filters);
  const [rows, setRows] = useState<Session[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const servers = useApi<{ servers: ServerInfo[] }>(can.seeServers(me) ? "/api/v1/servers" : null);

  // A new filter (from the form, a link or back/forward) starts from the newest page again.
  useEffect(() => {
    setDraft(filtersFrom(new URLSearchParams(key)));
    const ctl = new AbortController();
    // Rows of the previous filter must never pass for results of this one.
    setRows([]);
    setNext(null);
    setLoading(true);
    setError(undefined);
    const path = sessionsPath(new URLSearchParams(key));
    (takeEarly<SessionPage>(path) ?? get<SessionPage>(path, ctl.signal)).then(
      (p) => {
        if (ctl.signal.aborted) return;
        setRows(p.sessions);
        setNext(p.next_cursor);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctl.signal.aborted || (e instanceof DOMException && e.name === "AbortError")) return;
        setRows([]);
        setNext(null);
        setError(e);
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [key, tick]);

  const loadMore = async () => {
    if (!next) return;
    setLoading(true);
    try {
      const p = await get<SessionPage>(`/api/v1/sessions${query({ ...filters, limit: PAGE, cursor: next })}`);
      setRows((r) => [...r, ...p.sessions]);
      setNext(p.next_cursor);
      setError(undefined);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/sessions${query(draft)}`);
  };
  const set = (k: keyof Filters, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const preset = (hours: number) => {
    const since = new Date(Date.now() - hours * 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
    const d = { ...draft, since, until: "" };
    setDraft(d);
    navigate(`/sessions${query(d)}`);
  };
  const active = FILTERS.filter((k) => filters[k]).length;
  const badFilter = error instanceof ApiError && error.status === 400;

  return (
    <>
      <PageHeader
        title="Sessions"
        subtitle={
          can.seeAllSessions(me)
            ? "Every recorded MCP session through the gateway, newest first."
            : "Your own recorded MCP sessions, newest first."
        }
      />
      <form className="filters card" onSubmit={submit} aria-label="Filter sessions">
        <div className="filter-grid">
          {can.seeAllSessions(me) ? (
            <label>
              Person
              <input
                value={draft.user}
                onChange={(e) => set("user", e.target.value)}
                placeholder="user name"
                autoComplete="off"
              />
            </label>
          ) : null}
          <label>
            Server
            <input
              value={draft.server}
              onChange={(e) => set("server", e.target.value)}
              list="server-names"
              placeholder="any"
              autoComplete="off"
            />
            <datalist id="server-names">
              {servers.data?.servers.map((s) => (
                <option key={s.name} value={s.name} />
              ))}
            </datalist>
          </label>
          <label>
            Tool
            <input value={draft.tool} onChange={(e) => set("tool", e.target.value)} placeholder="any" autoComplete="off" />
          </label>
          <label>
            Decision
            <select value={draft.decision} onChange={(e) => set("decision", e.target.value)}>
              <option value="">any</option>
              <option value="denied">had a denied call</option>
              <option value="held">had a call held for approval</option>
              <option value="allowed">only allowed calls</option>
            </select>
          </label>
          <label>
            From (UTC)
            <input
              type="datetime-local"
              value={toLocalInput(draft.since || null)}
              onChange={(e) => set("since", fromLocalInput(e.target.value))}
            />
          </label>
          <label>
            To (UTC)
            <input
              type="datetime-local"
              value={toLocalInput(draft.until || null)}
              onChange={(e) => set("until", fromLocalInput(e.target.value))}
            />
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={draft.masked === "true"}
              onChange={(e) => set("masked", e.target.checked ? "true" : "")}
            />
            Had masked data
          </label>
        </div>
        <div className="filter-actions">
          <span className="quick" role="group" aria-label="Quick time ranges">
            <button type="button" className="btn btn-small btn-quiet" onClick={() => preset(24)}>
              Last 24 h
            </button>
            <button type="button" className="btn btn-small btn-quiet" onClick={() => preset(24 * 7)}>
              7 days
            </button>
            <button type="button" className="btn btn-small btn-quiet" onClick={() => preset(24 * 30)}>
              30 days
            </button>
          </span>
          {active ? (
            <button type="button" className="btn btn-quiet" onClick={() => navigate("/sessions")}>
              Clear filters
            </button>
          ) : null}
          <button type="submit" className="btn btn-primary">
            Apply filters
          </button>
        </div>
      </form>
      <ErrorBanner error={error} onRetry={badFilter ? undefined : () => setTick((t) => t + 1)} />
      {loading && rows.length === 0 ? <Loading what="sessions" /> : null}
      {!loading && !error && rows.length === 0 ? (
        active ? (
          <Empty title="No session matches these filters">
            <p>Widen the time range or clear a filter. Person, server and tool must match exactly.</p>
          </Empty>
        ) : (
          <Empty title="No sessions recorded yet">
            <p>
              Sessions appear here as soon as an MCP client connects through the gateway at <code>/mcp/&lt;server&gt;</code>.
            </p>
          </Empty>
        )
      ) : null}
      {rows.length > 0 ? (
        <div className="card table-card">
          <table className="table sessions-table">
            <caption className="sr-only">Sessions</caption>
            <thead>
              <tr>
                <th scope="col">Started (UTC)</th>
                <th scope="col">Person</th>
                <th scope="col">Server</th>
                <th scope="col">Tools used</th>
                <th scope="col" className="num">
                  Messages
                </th>
                <th scope="col">Decisions</th>
                <th scope="col" className="num">
                  Masked
                </th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.id} data-testid="session-row">
                  <td>
                    <Link to={`/sessions/${encodeURIComponent(s.id)}`} title={`Open session ${s.id}`}>
                      {utc(s.started_at).replace(" UTC", "")}
                    </Link>
                  </td>
                  <td title={s.groups.length ? `groups: ${s.groups.join(", ")}` : undefined}>
                    <span className="strong">{s.user}</span>
                  </td>
                  <td title={s.client ? `client: ${s.client}` : undefined}>{s.server}</td>
                  <td className="tools-cell" title={s.tools.join(", ")}>
                    {s.tools.length ? s.tools.join(", ") : <span className="muted">none</span>}
                  </td>
                  <td className="num">{num(s.messages)}</td>
                  <td className="nowrap">
                    {s.denied ? <span className="badge badge-bad">{s.denied} denied</span> : null}{" "}
                    {s.held ? <span className="badge badge-warn">{s.held} held</span> : null}
                    {!s.denied && !s.held ? <span className="muted">{s.tools.length ? "all allowed" : "no calls"}</span> : null}
                  </td>
                  <td className="num">
                    {s.masked_total ? (
                      <span className="badge badge-masked">{num(s.masked_total)}</span>
                    ) : (
                      <span className="muted">0</span>
                    )}
                  </td>
                  <td className="nowrap">
                    {s.ended_at ? (
                      duration(new Date(s.ended_at).getTime() - new Date(s.started_at).getTime())
                    ) : (
                      <span className="badge badge-live" title={`open since ${ago(s.started_at)}`}>
                        open
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="table-foot">
            <span className="muted">
              Showing {num(rows.length)} session{rows.length === 1 ? "" : "s"}
              {next ? "; older ones are available" : "; that is all of them"}.
            </span>
            {next ? (
              <button type="button" className="btn" onClick={loadMore} disabled={loading}>
                {loading ? "Loading…" : "Load older sessions"}
              </button>
            ) : null}
          </div>
        </div>
      ) : null}
    </>
  );
}
