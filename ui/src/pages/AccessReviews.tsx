// Periodic access reviews (SOC 2 CC6.2/CC6.3): auditors and admins start one for a period and
// close it; each server's owners keep or revoke every person's access, with a comment.
import { useState, type FormEvent } from "react";
import { errorText, post } from "../api";
import { has, useMe } from "../auth";
import { DecisionForm } from "../components/DecisionForm";
import { Empty, ErrorBanner, Loading, Notice, PageHeader, Time } from "../components/ui";
import { useApi } from "../lib/useApi";
import { Link, navigate } from "../router";
import type { AccessReview, AccessReviewEntry } from "../types";

function currentQuarter(): string {
  const d = new Date();
  return `${d.getUTCFullYear()}-Q${Math.floor(d.getUTCMonth() / 3) + 1}`;
}

export function AccessReviewsPage() {
  const me = useMe();
  const { data, error, loading, reload } = useApi<{ reviews: AccessReview[] }>("/api/v1/access-reviews");
  const [period, setPeriod] = useState(currentQuarter());
  const [busy, setBusy] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  const mayStart = has(me, "auditor", "admin");

  const start = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setStartError(null);
    try {
      const r = await post<AccessReview>("/api/v1/access-reviews", { period: period.trim() });
      navigate(`/access-reviews/${encodeURIComponent(r.id)}`);
    } catch (err) {
      setStartError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const rows = data?.reviews ?? [];
  return (
    <>
      <PageHeader
        title="Access reviews"
        subtitle="Who could use each server in a period, what they did with it, and each owner's decision to keep or revoke it. A closed review is signed into the audit log and goes into the evidence bundle."
      />
      {mayStart ? (
        <form className="card review-start" onSubmit={start} aria-label="Start an access review">
          <label>
            Period (a quarter such as 2026-Q4, or a month such as 2026-12)
            <input name="period" value={period} onChange={(e) => setPeriod(e.target.value)} aria-required="true" />
          </label>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Starting…" : "Start review"}
          </button>
          {startError ? (
            <p className="form-error" role="alert">
              {startError}
            </p>
          ) : null}
        </form>
      ) : null}
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data ? <Loading what="access reviews" /> : null}
      {data && rows.length === 0 ? (
        <Empty title="No access reviews yet">
          <p>An auditor or admin starts one for a period; the servers' owners then decide each entry.</p>
        </Empty>
      ) : null}
      {rows.length ? (
        <div className="card table-card">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Review</th>
                <th scope="col">Period</th>
                <th scope="col">State</th>
                <th scope="col">Decided</th>
                <th scope="col">Never used</th>
                <th scope="col">Started</th>
                <th scope="col">Closed</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} data-testid="access-review-row">
                  <td>
                    <Link to={`/access-reviews/${encodeURIComponent(r.id)}`}>{r.id}</Link>
                  </td>
                  <td>{r.period}</td>
                  <td>
                    <span className={`badge ${r.state === "open" ? "badge-warn" : "badge-ok"}`}>{r.state}</span>
                  </td>
                  <td>
                    {r.decided} / {r.total}
                  </td>
                  <td>{r.never_used}</td>
                  <td>
                    {r.started_by}, <Time at={r.started_at} compact />
                  </td>
                  <td>
                    {r.closed_by ? (
                      <>
                        {r.closed_by}, <Time at={r.closed_at} compact />
                      </>
                    ) : (
                      <span className="muted">—</span>
                    )}
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

export function AccessReviewPage({ id }: { id: string }) {
  const me = useMe();
  const { data: r, error, loading, reload } = useApi<AccessReview>(`/api/v1/access-reviews/${encodeURIComponent(id)}`);
  const [closeError, setCloseError] = useState<string | null>(null);
  const [closing, setClosing] = useState(false);
  const mayClose = has(me, "auditor", "admin");
  const close = async () => {
    setClosing(true);
    setCloseError(null);
    try {
      await post<AccessReview>(`/api/v1/access-reviews/${encodeURIComponent(id)}/close`);
      reload();
    } catch (e) {
      setCloseError(errorText(e));
    } finally {
      setClosing(false);
    }
  };
  return (
    <>
      <PageHeader
        title={r ? `Access review ${r.id} · ${r.period}` : `Access review ${id}`}
        subtitle={
          <>
            <Link to="/access-reviews">All access reviews</Link>
            {r ? (
              <>
                {" "}
                · started by {r.started_by} <Time at={r.started_at} compact /> · covers <Time at={r.from} compact /> to{" "}
                <Time at={r.covered_to} compact />
              </>
            ) : null}
          </>
        }
        actions={
          r && r.state === "open" && mayClose ? (
            <button type="button" className="btn btn-primary" onClick={close} disabled={closing} data-testid="close-review">
              {closing ? "Closing…" : "Close review"}
            </button>
          ) : null
        }
      />
      <ErrorBanner error={error} onRetry={reload} />
      {closeError ? (
        <p className="form-error" role="alert">
          {closeError}
        </p>
      ) : null}
      {loading && !r ? <Loading what="the access review" /> : null}
      {r ? (
        <>
          {r.state === "closed" ? (
            <Notice kind="success">
              Closed by <strong>{r.closed_by}</strong> <Time at={r.closed_at} compact />. The result is in the audit log (SHA-256{" "}
              <code>{r.result_digest?.slice(0, 16)}…</code>) and in the evidence bundle of the period.
            </Notice>
          ) : (
            <p className="muted" data-testid="review-progress">
              {r.decided} of {r.total} entries decided · {r.never_used} never used in the period.
            </p>
          )}
          {r.entries.length === 0 ? (
            <Empty title="Nobody could use a server in this period" />
          ) : (
            <ul className="review-entries">
              {r.entries.map((e) => (
                <EntryCard key={e.entry} review={r} e={e} onDecided={reload} />
              ))}
            </ul>
          )}
          {r.policy_draft ? (
            <section className="card">
              <div className="card-head">
                <h2>Policy draft for the revoked entries</h2>
              </div>
              <p className="muted small">
                The policy in force with a deny rule for each revoked entry. An admin publishes it in the{" "}
                <Link to="/policies/edit">policy editor</Link> or with <code>gatehouse policy push</code>.
              </p>
              <pre className="code review-draft" data-testid="policy-draft">
                {r.policy_draft}
              </pre>
            </section>
          ) : null}
        </>
      ) : null}
    </>
  );
}

function accessText(e: AccessReviewEntry): string {
  return e.access
    .map((a) => {
      if (a.kind === "rule") return `rule ${a.rule} (${a.via})`;
      if (a.kind === "grant") return `grant ${a.grant} (${a.role})`;
      if (a.kind === "default") return "the server's default allows";
      return "no policy: everyone";
    })
    .join(", ");
}

function EntryCard({ review, e, onDecided }: { review: AccessReview; e: AccessReviewEntry; onDecided: () => void }) {
  const me = useMe();
  const reviewer = e.reviewers.length
    ? e.reviewers.includes(me.user) || e.reviewers.some((g) => me.groups.includes(g))
    : has(me, "admin");
  const decide = async (decision: "keep" | "revoke", comment: string) => {
    await post(`/api/v1/access-reviews/${encodeURIComponent(review.id)}/entries/${e.entry}`, { decision, comment });
    onDecided();
  };
  return (
    <li className="card review-entry" data-testid="review-entry" data-person={e.person} data-server={e.server}>
      <div className="review-entry-head">
        <h2 className="approval-title">
          <span className="muted">#{e.entry}</span> <strong>{e.person}</strong> on <strong>{e.server}</strong>
        </h2>
        {e.never_used ? <span className="badge badge-muted">never used</span> : null}
        {e.lost_at ? (
          <span className="badge badge-bad">
            lost access <Time at={e.lost_at} compact />
          </span>
        ) : null}
        {e.decision ? <span className={`badge ${e.decision === "keep" ? "badge-ok" : "badge-bad"}`}>{e.decision}</span> : null}
      </div>
      <p className="small">
        Access: {accessText(e)}
        <br />
        Use in the period:{" "}
        {e.never_used ? (
          <strong>none (a candidate for removal)</strong>
        ) : (
          <>
            {e.sessions} sessions, {e.calls} calls, {e.refusals} refused, last <Time at={e.last_used} compact />
          </>
        )}
        <br />
        Reviewers: {e.reviewers.length ? e.reviewers.join(", ") : "admins"}
      </p>
      {e.decision ? (
        <p className="small">
          <strong>{e.decided_by}</strong> decided to {e.decision} <Time at={e.decided_at} compact />: <q>{e.comment}</q>
          {e.change ? (
            <>
              <br />
              To do: {e.change.note}
            </>
          ) : null}
        </p>
      ) : review.state === "open" && reviewer ? (
        <DecisionForm
          label={`Decide ${e.person}'s access to ${e.server}`}
          decide={decide}
          placeholder="e.g. still on the team; left in November"
          choices={[
            { value: "keep", label: "Keep" },
            { value: "revoke", label: "Revoke" },
          ]}
          field={{
            label: "Comment (recorded, shown to auditors)",
            name: "comment",
            missing: "Give a comment: it is recorded with your decision and shown to auditors.",
          }}
        />
      ) : (
        <p className="muted small">Undecided: waiting for {e.reviewers.length ? e.reviewers.join(", ") : "an admin"}.</p>
      )}
    </li>
  );
}
