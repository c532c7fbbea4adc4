import { useState, type FormEvent } from "react";
import { errorText, post } from "../api";
import { has, useMe } from "../auth";
import { DecisionForm } from "../components/DecisionForm";
import { Empty, ErrorBanner, Loading, Notice, PageHeader, Time } from "../components/ui";
import { useApi } from "../lib/useApi";
import type { AccessList, Approval, Grant } from "../types";

/** Just-in-time access: ask for a role on a server for a while, decide requests, end grants early. */
export function AccessPage() {
  const me = useMe();
  const everyone = has(me, "auditor", "admin");
  const { data, error, loading, reload } = useApi<AccessList>(`/api/v1/access${everyone ? "?all=true" : ""}`);
  const [done, setDone] = useState<string | null>(null);
  const after = (msg: string) => {
    setDone(msg);
    reload();
  };
  const pending = (data?.requests ?? []).filter((r) => r.state === "pending");
  const grants = data?.grants ?? [];
  return (
    <>
      <PageHeader
        title="Access"
        subtitle="Time-boxed access to a server, granted by approvers the policy names. Every request, vote, grant, use and end is recorded."
      />
      {done ? <Notice kind="success">{done}</Notice> : null}
      <RequestForm onRequested={after} />
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data ? <Loading what="access grants" /> : null}
      <h2>Requests waiting for a decision</h2>
      {data && pending.length === 0 ? <p className="muted">No access request is waiting.</p> : null}
      <ul className="approvals">
        {pending.map((r) => (
          <RequestCard key={r.id} r={r} onDecided={after} />
        ))}
      </ul>
      <h2>Grants</h2>
      {data && grants.length === 0 ? (
        <Empty title="No grants yet">
          <p>An approved request becomes a grant: live until it ends by itself, or until it is ended early.</p>
        </Empty>
      ) : null}
      {grants.length ? <GrantTable grants={grants} onEnded={after} /> : null}
    </>
  );
}

function RequestForm({ onRequested }: { onRequested: (msg: string) => void }) {
  const [server, setServer] = useState("");
  const [role, setRole] = useState("");
  const [duration, setDuration] = useState("1h");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const a = await post<Approval>("/api/v1/access/requests", { server, role, duration, reason });
      onRequested(
        `Requested role ${role} on ${server} for ${duration} (request ${a.id}): ${a.quorum} approval${a.quorum === 1 ? "" : "s"} needed from ${a.approvers.join(", ")}.`,
      );
      setReason("");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card access-request" onSubmit={(e) => void submit(e)} aria-label="Request access" data-testid="access-request-form">
      <h2>Request access</h2>
      <div className="form-row">
        <label>
          Server
          <input name="server" value={server} onChange={(e) => setServer(e.target.value)} placeholder="e.g. customers" required />
        </label>
        <label>
          Role
          <input name="role" value={role} onChange={(e) => setRole(e.target.value)} placeholder="e.g. dba-write" required />
        </label>
        <label>
          For
          <input name="duration" value={duration} onChange={(e) => setDuration(e.target.value)} placeholder="30m, 2h" required />
        </label>
      </div>
      <label>
        Reason (a ticket or incident; approvers and auditors read it)
        <input name="reason" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. INC-4411" required />
      </label>
      <button type="submit" className="btn btn-primary" disabled={busy}>
        Ask for access
      </button>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}

function RequestCard({ r, onDecided }: { r: Approval; onDecided: (msg: string) => void }) {
  const me = useMe();
  const args = r.arguments as Record<string, unknown> | null;
  const own = r.requester === me.user;
  const decide = async (verb: "approve" | "deny", reason: string) => {
    await post(`/api/v1/access/requests/${encodeURIComponent(r.id)}/${verb}`, { reason });
    onDecided(`${verb === "approve" ? "Approved" : "Denied"} ${r.requester}'s request for role ${r.tool} on ${r.server}.`);
  };
  return (
    <li className="card approval" data-testid="access-request" data-request-id={r.id}>
      <h3 className="approval-title">
        <strong>{r.requester}</strong> asks for role <code>{r.tool}</code> on <strong>{r.server}</strong> for{" "}
        <strong>{String(args?.duration ?? "?")}</strong>
      </h3>
      <p>
        <strong>Reason:</strong> {String(args?.reason ?? "")}
      </p>
      <p className="muted small">
        Rule <code>{r.rule}</code> · asked <Time at={r.created_at} /> · needs {r.quorum} from {r.approvers.join(", ")}
      </p>
      {own ? (
        <p className="muted">This is your own request: someone else must decide it.</p>
      ) : (
        <DecisionForm label={`Decide on ${r.requester}'s access request`} decide={decide} placeholder="e.g. on call for INC-4411" />
      )}
    </li>
  );
}

function GrantTable({ grants, onEnded }: { grants: Grant[]; onEnded: (msg: string) => void }) {
  const me = useMe();
  const admin = has(me, "admin");
  const [error, setError] = useState<string | null>(null);
  const revoke = async (g: Grant) => {
    setError(null);
    try {
      await post(`/api/v1/access/grants/${encodeURIComponent(g.id)}/revoke`, { reason: "ended early from the dashboard" });
      onEnded(`Ended grant ${g.id} (role ${g.role} on ${g.server}).`);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div className="card table-card">
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Grant</th>
            <th scope="col">Person</th>
            <th scope="col">Role on server</th>
            <th scope="col">Reason</th>
            <th scope="col">From (UTC)</th>
            <th scope="col">Until (UTC)</th>
            <th scope="col">State</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {grants.map((g) => (
            <tr key={g.id} data-testid="grant-row" data-grant-id={g.id} data-state={g.state}>
              <td>
                <code>{g.id}</code>
              </td>
              <td>{g.person}</td>
              <td>
                <code>{g.role}</code> on <strong>{g.server}</strong>
              </td>
              <td>{g.reason}</td>
              <td>
                <Time at={g.starts_at} compact />
              </td>
              <td>
                <Time at={g.ended_at ?? g.ends_at} compact />
              </td>
              <td>
                <span className={`badge badge-${g.state === "live" ? "ok" : "muted"}`}>
                  {g.state === "revoked" ? `revoked by ${g.ended_by}` : g.state}
                </span>
              </td>
              <td>
                {g.state === "live" && (g.person === me.user || admin) ? (
                  <button type="button" className="btn btn-small btn-danger" onClick={() => void revoke(g)}>
                    End now
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
