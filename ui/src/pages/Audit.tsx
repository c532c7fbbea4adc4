import { useState, type FormEvent, type ReactNode } from "react";
import { errorText, post } from "../api";
import { ErrorBanner, KeyValues, Loading, Notice, PageHeader, Section, Time } from "../components/ui";
import { num } from "../lib/format";
import { useApi } from "../lib/useApi";
import type { AuditStatus, AuditVerify } from "../types";
import { WitnessesSection } from "../components/Witnesses";

const day = (d: Date) => d.toISOString().slice(0, 10);

export function AuditPage() {
  const status = useApi<AuditStatus>("/api/v1/audit/status");
  const [verify, setVerify] = useState<{ at: Date; result: AuditVerify } | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const today = new Date();
  const [since, setSince] = useState(day(new Date(today.getTime() - 30 * 86400_000)));
  const [until, setUntil] = useState(day(today));

  const runVerify = async () => {
    setVerifying(true);
    setVerifyError(null);
    try {
      const result = await post<AuditVerify>("/api/v1/audit/verify");
      setVerify({ at: new Date(), result });
      status.reload();
    } catch (e) {
      setVerifyError(errorText(e));
    } finally {
      setVerifying(false);
    }
  };
  const rangeBad = since > until;
  const href = `/api/v1/evidence?since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`;
  const exportSubmit = (e: FormEvent) => {
    if (rangeBad) e.preventDefault();
  };

  const s = status.data;
  return (
    <>
      <PageHeader
        title="Audit integrity"
        subtitle="Every recorded event is hash-chained to the one before it; signed checkpoints pin the log so any change, removal or reordering shows."
      />
      <ErrorBanner error={status.error} onRetry={status.reload} />
      {status.loading && !s ? <Loading what="the audit status" /> : null}
      {s ? (
        <div className="grid-2">
          <Section title="Chain and checkpoints" id="chain">
            <KeyValues
              items={[
                ["Recorded events", <strong>{num(s.events)}</strong>],
                [
                  "Chain head",
                  <code className="hash" title={s.chain_head}>
                    {s.chain_head || "—"}
                  </code>,
                ],
                [
                  "Latest checkpoint",
                  s.checkpoint ? (
                    <span>
                      over <strong>{num(s.checkpoint.tree_size)}</strong> events, signed <Time at={s.checkpoint.at} />
                      {s.checkpoint.tree_size < s.events ? (
                        <span className="muted small block">
                          {num(s.events - s.checkpoint.tree_size)} newer events will be covered by the next checkpoint.
                        </span>
                      ) : null}
                    </span>
                  ) : (
                    <span className="muted">none signed yet (one is signed at an interval and at shutdown)</span>
                  ),
                ],
                ...(s.checkpoints !== undefined ? ([["Signed checkpoints", num(s.checkpoints)]] as [string, ReactNode][]) : []),
                ["Checkpoint root", s.checkpoint ? <code className="hash">{s.checkpoint.root}</code> : "—"],
                ["Signing public key (Ed25519)", <code className="hash">{s.public_key}</code>],
              ]}
            />
          </Section>
          <Section title="Verify now" id="verify">
            <p className="small">
              Re-reads the whole log, recomputes every hash and checks every checkpoint signature against the public key. The same
              check runs offline with <code>gatehouse audit verify</code>.
            </p>
            <button type="button" className="btn btn-primary" onClick={runVerify} disabled={verifying}>
              {verifying ? "Verifying…" : "Verify now"}
            </button>
            {verifyError ? (
              <p className="form-error" role="alert">
                {verifyError}
              </p>
            ) : null}
            {verify ? (
              verify.result.ok ? (
                <Notice kind="success">
                  <strong>The log is intact.</strong> {num(verify.result.events)} events and {num(verify.result.checkpoints)}{" "}
                  checkpoints verified at <Time at={verify.at.toISOString()} />.
                </Notice>
              ) : (
                <div className="alert alert-error" role="alert">
                  <strong>The log does not verify.</strong> {num(verify.result.events)} events, {num(verify.result.checkpoints)}{" "}
                  checkpoints checked:
                  <ul>
                    {verify.result.problems.map((p, i) => (
                      <li key={i}>{p}</li>
                    ))}
                  </ul>
                </div>
              )
            ) : null}
          </Section>
        </div>
      ) : null}
      <WitnessesSection />
      <Section title="Evidence export" id="evidence">
        <p className="small">
          A <code>.tar.gz</code> bundle for a period: sessions, the audit chain, checkpoints, approvals with votes and reasons,
          policy versions, tool pins, a SHA-256 manifest and a printable report mapped to SOC 2 controls. Check it offline with{" "}
          <code>gatehouse audit verify --bundle</code>.
        </p>
        <form className="row-form" method="get" action="/api/v1/evidence" onSubmit={exportSubmit}>
          <label>
            From (UTC day)
            <input type="date" name="since" value={since} max={until} onChange={(e) => setSince(e.target.value)} required />
          </label>
          <label>
            To (UTC day, inclusive)
            <input type="date" name="until" value={until} min={since} onChange={(e) => setUntil(e.target.value)} required />
          </label>
          <button type="submit" className="btn btn-primary" disabled={rangeBad}>
            Download evidence
          </button>
          <a className="small" href={href} data-testid="evidence-link">
            Direct link
          </a>
        </form>
        {rangeBad ? (
          <p className="form-error" role="alert">
            The start day is after the end day.
          </p>
        ) : null}
      </Section>
    </>
  );
}
