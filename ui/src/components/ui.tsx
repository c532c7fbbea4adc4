import type { ReactNode } from "react";
import { errorText } from "../api";
import { splitMasked } from "../lib/masked";
import { label, num, utc } from "../lib/format";
import type { ApprovalState, Decision, MaskedCounts } from "../types";

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle ? <p className="subtitle">{subtitle}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}

export function ErrorBanner({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="alert alert-error" role="alert">
      <strong>Something went wrong.</strong> <span>{errorText(error)}</span>
      {onRetry ? (
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Notice({ kind = "info", children }: { kind?: "info" | "success" | "warn"; children: ReactNode }) {
  return (
    <div className={`alert alert-${kind}`} role="status">
      {children}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Section({
  title,
  children,
  actions,
  id,
}: {
  title: string;
  children: ReactNode;
  actions?: ReactNode;
  id?: string;
}) {
  return (
    <section className="card" aria-labelledby={id}>
      <div className="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** Text with masked tokens highlighted. */
export function MaskedText({ text }: { text: string }) {
  return (
    <>
      {splitMasked(text).map((p, i) =>
        p.masked ? (
          <mark key={i} className="masked" title="Masked by Gatehouse before it was recorded or shown">
            {p.text}
          </mark>
        ) : (
          <span key={i}>{p.text}</span>
        ),
      )}
    </>
  );
}

/** Pretty JSON (already masked by the server) with masked tokens highlighted. */
export function Json({ value, label: aria }: { value: unknown; label?: string }) {
  const text = typeof value === "string" ? value : (JSON.stringify(value, null, 2) ?? "null");
  return (
    <pre className="json" aria-label={aria} tabIndex={0}>
      <MaskedText text={text} />
    </pre>
  );
}

const effectText: Record<Decision["effect"], string> = {
  allow: "Allowed",
  deny: "Denied",
  require_approval: "Needs approval",
};

export function DecisionBadge({ decision }: { decision: Decision | null }) {
  if (!decision) return <span className="badge badge-muted">No decision</span>;
  const cls = decision.effect === "allow" ? "badge-ok" : decision.effect === "deny" ? "badge-bad" : "badge-warn";
  return <span className={`badge ${cls}`}>{effectText[decision.effect]}</span>;
}

export function DecisionDetail({ decision }: { decision: Decision | null }) {
  if (!decision) return <span className="muted">not evaluated (session method)</span>;
  return (
    <span>
      <DecisionBadge decision={decision} />{" "}
      {decision.rule ? (
        <>
          rule <code>{decision.rule}</code>
        </>
      ) : (
        <span className="muted">default</span>
      )}
      {decision.policy_version !== null ? (
        <>
          {" "}
          · policy{" "}
          <code>{String(decision.policy_version).startsWith("v") ? decision.policy_version : `v${decision.policy_version}`}</code>
        </>
      ) : null}
      {decision.message ? <span className="decision-message"> — {decision.message}</span> : null}
    </span>
  );
}

const stateCls: Record<ApprovalState, string> = {
  pending: "badge-warn",
  approved: "badge-ok",
  used: "badge-ok",
  denied: "badge-bad",
  expired: "badge-muted",
};

export function StateBadge({ state }: { state: ApprovalState }) {
  return <span className={`badge ${stateCls[state]}`}>{label(state)}</span>;
}

export function MaskedChips({ masked }: { masked: MaskedCounts }) {
  const entries = Object.entries(masked ?? {}).filter(([, n]) => n > 0);
  if (!entries.length) return <span className="muted">none</span>;
  return (
    <span className="chips">
      {entries.map(([k, n]) => (
        <span key={k} className="chip chip-masked">
          {label(k)} × {num(n)}
        </span>
      ))}
    </span>
  );
}

/** A UTC time; `compact` drops the " UTC" suffix where the column header already says it. */
export function Time({ at, compact }: { at: string | null | undefined; compact?: boolean }) {
  if (!at) return <span className="muted">—</span>;
  return <time dateTime={at}>{compact ? utc(at).replace(" UTC", "") : utc(at)}</time>;
}

export function KeyValues({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
