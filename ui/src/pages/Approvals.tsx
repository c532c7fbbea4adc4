import { useEffect, useState } from "react";
import { get, post } from "../api";
import { DecisionForm } from "../components/DecisionForm";
import { can, useMe } from "../auth";
import { Empty, ErrorBanner, Json, Loading, Notice, PageHeader, StateBadge, Time } from "../components/ui";
import { ago } from "../lib/format";
import { useApi } from "../lib/useApi";
import { useEventSource } from "../lib/useEventSource";
import { Link, navigate, useLocation } from "../router";
import type { Approval } from "../types";
import { onTabKeys } from "../lib/tabs";

export function ApprovalsPage() {
  const loc = useLocation();
  const view = loc.search.get("view") === "history" ? "history" : "queue";
  return (
    <>
      <PageHeader
        title="Approvals"
        subtitle="Calls that a policy holds until a designated approver decides. Every decision is recorded with its reason."
      />
      <div className="tabs" role="tablist" onKeyDown={onTabKeys} aria-label="Approvals view">
        <button
          type="button"
          role="tab"
          aria-selected={view === "queue"}
          tabIndex={view === "queue" ? 0 : -1}
          className={view === "queue" ? "tab active" : "tab"}
          onClick={() => navigate("/approvals")}
        >
          Waiting for a decision
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={view === "history"}
          tabIndex={view === "history" ? 0 : -1}
          className={view === "history" ? "tab active" : "tab"}
          onClick={() => navigate("/approvals?view=history")}
        >
          History
        </button>
      </div>
      {view === "queue" ? <Queue /> : <History />}
    </>
  );
}

function Queue() {
  const me = useMe();
  const [pending, setPending] = useState<Approval[] | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | null>(null);
  const [, setNow] = useState(0);
  const live = useEventSource<{ approvals: Approval[] }>("/api/v1/approvals/watch", "approvals", (d) => {
    setPending(d.approvals);
    setError(undefined);
  });
  // The first list comes from a plain GET too, so the page is useful even if streaming is blocked.
  useEffect(() => {
    get<{ approvals: Approval[] }>("/api/v1/approvals").then(
      (d) => setPending((p) => p ?? d.approvals),
      (e: unknown) => setError(e),
    );
  }, []);
  useEffect(() => {
    const t = setInterval(() => setNow((n) => n + 1), 15_000);
    return () => clearInterval(t);
  }, []);

  return (
    <>
      <p className={`live live-${live}`} role="status" aria-live="polite">
        <span className="dot" aria-hidden="true" />
        {live === "live"
          ? "Live: this list updates by itself."
          : live === "connecting"
            ? "Connecting to live updates…"
            : "Live updates interrupted; reconnecting…"}
      </p>
      {done ? <Notice kind="success">{done}</Notice> : null}
      <ErrorBanner error={error} />
      {pending === null && !error ? <Loading what="the approval queue" /> : null}
      {pending && pending.length === 0 ? (
        <Empty title="Nothing is waiting for a decision">
          <p>
            When a policy rule with <code>effect: require_approval</code> holds a call, it appears here at once
            {can.decideApprovals(me) ? " for you to approve or deny." : "."}
          </p>
        </Empty>
      ) : null}
      {pending && pending.length > 0 ? (
        <ul className="approvals">
          {pending.map((a) => (
            <ApprovalCard key={a.id} a={a} onDecided={(msg) => setDone(msg)} />
          ))}
        </ul>
      ) : null}
    </>
  );
}

function ApprovalCard({ a: shown, onDecided }: { a: Approval; onDecided: (msg: string) => void }) {
  const me = useMe();
  // Big values come cut; "Show all" asks for this approval's arguments whole.
  const [full, setFull] = useState<Approval | null>(null);
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const a = full ?? shown;
  const own = a.requester === me.user;
  const inGroup = a.approvers.some((g) => me.groups.includes(g) || g === me.user);
  // Approvers (the role) and members of the rule's approver groups see the form; the API has the last word.
  const canDecide = !own && (can.decideApprovals(me) || inGroup);
  const access = a.method === "access/request";
  const args = a.arguments as Record<string, unknown> | null;

  const decide = async (verb: "approve" | "deny", reason: string) => {
    const r = await post<Approval>(`/api/v1/approvals/${encodeURIComponent(a.id)}/${verb}`, { reason });
    onDecided(
      `${verb === "approve" ? "Approved" : "Denied"} ${a.requester}'s ${access ? `request for role ${a.tool}` : (a.tool ?? a.method)} on ${a.server}${r && r.state === "pending" ? " (more approvals needed for the quorum)" : ""}.`,
    );
  };
  const showAll = async () => {
    try {
      const d = await get<{ approvals: Approval[] }>("/api/v1/approvals?full=true");
      setFull(d.approvals.find((x) => x.id === a.id) ?? null);
    } catch (e) {
      setLoadError(e);
    }
  };
  const votes = a.votes.length;
  return (
    <li className="card approval" data-testid="approval" data-approval-id={a.id}>
      <div className="approval-head">
        <div>
          <h2 className="approval-title">
            {access ? (
              <>
                <strong>{a.requester}</strong> asks for role <code>{a.tool}</code> on <strong>{a.server}</strong> for{" "}
                <strong>{String(args?.duration ?? "?")}</strong>
              </>
            ) : (
              <>
                <strong>{a.requester}</strong> wants to call <code>{a.tool ?? a.method}</code> on <strong>{a.server}</strong>
              </>
            )}
          </h2>
          <p className="muted small">
            Rule <code>{a.rule}</code> · asked <Time at={a.created_at} /> · expires {ago(a.expires_at)} ·{" "}
            {access ? "just-in-time access" : a.mode === "hold" ? "the call is held open" : "the client will retry once approved"} ·{" "}
            <Link to={`/sessions/${encodeURIComponent(a.session_id)}`}>record</Link>
          </p>
        </div>
        <StateBadge state={a.state} />
      </div>
      <div className="approval-body">
        <div>
          {a.why ? (
            <p className="approval-why" data-testid="approval-why">
              <strong>{access ? "Reason" : "Held because"}:</strong> {a.why}
            </p>
          ) : null}
          {a.statements.map((st) => (
            <div key={st.pointer} data-testid="approval-statement">
              <h3>
                SQL at <code>{st.pointer}</code>
              </h3>
              <pre className="sql">{st.text}</pre>
            </div>
          ))}
          {access ? null : (
            <>
              <h3>Arguments (masked for you)</h3>
              <Json value={a.arguments} label="Arguments" />
              {a.cut ? (
                <button type="button" className="btn btn-small" onClick={() => void showAll()}>
                  Show all (long values were cut)
                </button>
              ) : null}
              <ErrorBanner error={loadError} />
            </>
          )}
        </div>
        <div>
          <h3>Who decides</h3>
          <p>
            Members of{" "}
            {a.approvers.map((g, i) => (
              <span key={g}>
                {i ? ", " : ""}
                <code>{g}</code>
              </span>
            ))}
            ; {a.quorum} approval
            {a.quorum === 1 ? "" : "s"} needed, {votes} given.
          </p>
          {a.votes.length ? (
            <ul className="votes">
              {a.votes.map((v, i) => (
                <li key={i}>
                  <strong>{v.approver}</strong> {v.vote === "approve" ? "approved" : "denied"}: <q>{v.reason}</q>
                </li>
              ))}
            </ul>
          ) : null}
          {canDecide ? (
            <DecisionForm
              label={`Decide on ${a.requester}'s request`}
              decide={decide}
              warning={inGroup ? undefined : "You are not in an approver group for this rule; the server will refuse your vote."}
            />
          ) : own ? (
            <p className="muted">This is your own request: someone else must decide it.</p>
          ) : (
            <p className="muted">Only approvers can decide.</p>
          )}
        </div>
      </div>
    </li>
  );
}

function History() {
  const { data, error, loading, reload } = useApi<{ approvals: Approval[] }>("/api/v1/approvals?all=true");
  const rows = data?.approvals ?? [];
  return (
    <>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data ? <Loading what="approval history" /> : null}
      {data && rows.length === 0 ? (
        <Empty title="No approvals yet">
          <p>Every call held for approval, and what was decided, will be listed here.</p>
        </Empty>
      ) : null}
      {rows.length ? (
        <div className="card table-card">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Asked (UTC)</th>
                <th scope="col">Requester</th>
                <th scope="col">Call</th>
                <th scope="col">Rule</th>
                <th scope="col">State</th>
                <th scope="col">Decided by, and why</th>
                <th scope="col">Decided (UTC)</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.id} data-testid="approval-history-row">
                  <td>
                    <Time at={a.created_at} compact />
                  </td>
                  <td>{a.requester}</td>
                  <td>
                    <Link to={`/sessions/${encodeURIComponent(a.session_id)}`}>
                      {a.server} / {a.tool ?? a.method}
                    </Link>
                  </td>
                  <td>
                    <code>{a.rule}</code>
                  </td>
                  <td>
                    <StateBadge state={a.state} />
                  </td>
                  <td>
                    {a.votes.length ? (
                      a.votes.map((v, i) => (
                        <div key={i}>
                          <strong>{v.approver}</strong> {v.vote === "approve" ? "approved" : "denied"}: <q>{v.reason}</q>
                        </div>
                      ))
                    ) : a.reason ? (
                      a.reason
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    <Time at={a.decided_at} compact />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}
