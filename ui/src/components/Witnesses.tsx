import { ErrorBanner, Notice, Section, Time } from "./ui";
import { num } from "../lib/format";
import { useApi } from "../lib/useApi";
import type { WitnessStatus } from "../types";

/** Where each configured witness stands: a witness that is behind is a gap in the record
 * outsiders hold of the log, shown until it catches up. */
export function WitnessesSection() {
  const w = useApi<WitnessStatus[]>("/api/v1/audit/witnesses");
  const all = w.data ?? [];
  return (
    <Section title="Witnesses" id="witnesses">
      <ErrorBanner error={w.error} onRetry={w.reload} />
      {w.data && all.length === 0 ? (
        <p className="small muted">
          No witness configured: someone holding the signing key and the database could rewrite history unnoticed. Add{" "}
          <code>[[audit.witnesses]]</code>.
        </p>
      ) : null}
      {all.some((x) => x.behind > 0) ? (
        <Notice kind="warn">
          <strong>Witnessing gap:</strong>{" "}
          {all
            .filter((x) => x.behind > 0)
            .map((x) => x.name)
            .join(", ")}{" "}
          has not acknowledged the newest checkpoint yet; delivery retries every checkpoint interval.
        </Notice>
      ) : null}
      {all.length > 0 ? (
        <table className="table" data-testid="witnesses">
          <thead>
            <tr>
              <th>Witness</th>
              <th>Acknowledged tree</th>
              <th>Behind</th>
              <th>Last acknowledged</th>
              <th>Last error</th>
            </tr>
          </thead>
          <tbody>
            {all.map((x) => (
              <tr key={x.name}>
                <td>{x.name}</td>
                <td>{num(x.size)} events</td>
                <td className={x.behind > 0 ? "text-warn" : undefined}>
                  {x.behind > 0 ? `${num(x.behind)} events` : "caught up"}
                </td>
                <td>{x.delivered_at ? <Time at={x.delivered_at} /> : "never"}</td>
                <td className="small">{x.last_error ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Section>
  );
}
