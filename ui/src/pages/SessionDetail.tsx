import { useState, type ReactNode } from "react";
import {
  DecisionBadge,
  DecisionDetail,
  Empty,
  ErrorBanner,
  Json,
  KeyValues,
  Loading,
  MaskedChips,
  PageHeader,
  Section,
  StateBadge,
  Time,
} from "../components/ui";
import { duration, num, timeOfDay } from "../lib/format";
import { useApi } from "../lib/useApi";
import { Link } from "../router";
import type { AuditEventView, Call, SessionDetail } from "../types";

export function SessionPage({ id }: { id: string }) {
  const { data, error, loading, reload } = useApi<SessionDetail>(`/api/v1/sessions/${encodeURIComponent(id)}`);
  if (loading && !data) return <Loading what="the session" />;
  if (error && !data)
    return (
      <>
        <PageHeader title="Session" subtitle={<Link to="/sessions">← All sessions</Link>} />
        <ErrorBanner error={error} onRetry={reload} />
      </>
    );
  if (!data) return null;
  const s = data.session;
  // Calls that reach a tool, resource or prompt (or that a policy decided) are the substance;
  // initialize, lists and pings are folded away.
  const substantive = (c: Call) =>
    ["tools/call", "resources/read", "prompts/get"].includes(c.method ?? "") ||
    (c.decision !== null && c.decision.effect !== "allow");
  const primary = data.calls.filter(substantive);
  const housekeeping = data.calls.filter((c) => !substantive(c));
  return (
    <>
      <PageHeader
        title={`${s.user} on ${s.server}`}
        subtitle={
          <>
            <Link to="/sessions">← All sessions</Link> · session <code>{s.id}</code>
          </>
        }
      />
      <section className="card" aria-label="Session summary">
        <KeyValues
          items={[
            [
              "Person",
              <>
                {s.user}
                {s.groups.length ? <span className="muted"> ({s.groups.join(", ")})</span> : null}
              </>,
            ],
            ["Server", s.server],
            ["Client", s.client ?? <span className="muted">unknown</span>],
            ["Protocol era", s.era === "current" ? "2026-07-28 (stateless)" : "session-based (2024-11-05 … 2025-11-25)"],
            ["Started", <Time at={s.started_at} />],
            [
              "Ended",
              s.ended_at ? (
                <>
                  <Time at={s.ended_at} />
                  {s.end_reason ? <span className="muted"> — {s.end_reason}</span> : null}
                </>
              ) : (
                <span className="badge badge-live">still open</span>
              ),
            ],
            ["Messages", num(s.messages)],
            ["Masked values", s.masked_total ? <span className="badge badge-masked">{num(s.masked_total)}</span> : "0"],
          ]}
        />
      </section>
      <Section title={`Tool calls (${primary.length})`} id="calls">
        {primary.length === 0 ? (
          <Empty title="No tool calls in this session">
            <p>The client connected but called no tool, resource or prompt. Every message is in the transcript below.</p>
          </Empty>
        ) : (
          <ol className="calls">
            {primary.map((c, i) => (
              <CallCard key={`${String(c.rpc_id)}-${i}`} call={c} />
            ))}
          </ol>
        )}
        {housekeeping.length ? (
          <details className="housekeeping">
            <summary>
              {housekeeping.length} protocol request{housekeeping.length === 1 ? "" : "s"} (
              {[...new Set(housekeeping.map((c) => c.method))].join(", ")})
            </summary>
            <table className="table compact">
              <thead>
                <tr>
                  <th scope="col">Method</th>
                  <th scope="col">Requested (UTC)</th>
                  <th scope="col">Took</th>
                  <th scope="col">Outcome</th>
                </tr>
              </thead>
              <tbody>
                {housekeeping.map((c, i) => (
                  <tr key={i}>
                    <td>
                      <code>{c.method}</code>
                    </td>
                    <td>
                      <Time at={c.requested_at} compact />
                    </td>
                    <td>{duration(c.duration_ms)}</td>
                    <td>
                      {c.error ? (
                        <span className="badge badge-bad">error {c.error.code}</span>
                      ) : c.decision ? (
                        <DecisionBadge decision={c.decision} />
                      ) : (
                        <span className="muted">answered</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        ) : null}
      </Section>
      <Section title={`Transcript (${data.events.length} events, in order)`} id="transcript">
        <Transcript events={data.events} />
      </Section>
    </>
  );
}

function CallCard({ call }: { call: Call }) {
  const a = call.approval;
  const maskedAny = Object.values(call.masked ?? {}).some((n) => n > 0);
  return (
    <li className="call" data-testid="call" data-method={call.method} data-tool={call.tool ?? undefined}>
      <div className="call-head">
        <span className="call-title">
          <code className="method">{call.method}</code>
          {call.tool ? <strong className="tool">{call.tool}</strong> : null}
          <span className="muted small">id {String(call.rpc_id)}</span>
        </span>
        {a && a.state !== "pending" ? (
          <StateBadge state={a.state === "used" ? "approved" : a.state} />
        ) : (
          <DecisionBadge decision={call.decision} />
        )}
      </div>
      <KeyValues
        items={[
          ["Decision", <DecisionDetail decision={call.decision} />],
          ...(a
            ? ([
                [
                  "Approval",
                  <span>
                    <StateBadge state={a.state} /> by {a.approvers.join(", ")} (quorum {a.quorum}, {a.mode})
                    {a.votes.length ? (
                      <ul className="votes">
                        {a.votes.map((v, i) => (
                          <li key={i}>
                            <strong>{v.approver}</strong> {v.vote === "approve" ? "approved" : "denied"} at <Time at={v.at} />:{" "}
                            <q>{v.reason}</q>
                          </li>
                        ))}
                      </ul>
                    ) : a.reason ? (
                      <span> — {a.reason}</span>
                    ) : null}
                  </span>,
                ],
              ] as [string, ReactNode][])
            : []),
          [
            "Timing",
            <span>
              requested <Time at={call.requested_at} />
              {call.answered_at ? (
                <>
                  {" "}
                  · answered <Time at={call.answered_at} /> · <strong>{duration(call.duration_ms)}</strong>
                </>
              ) : (
                <span className="muted"> · no answer recorded</span>
              )}
            </span>,
          ],
          ["Masked", <MaskedChips masked={call.masked} />],
        ]}
      />
      <div className="call-bodies">
        <div>
          <h3>Arguments</h3>
          <Json value={call.arguments ?? {}} label="Arguments" />
        </div>
        <div>
          <h3>
            {call.error ? "Error" : "Result"}
            {maskedAny ? <span className="badge badge-masked small-badge">masked</span> : null}
          </h3>
          {call.error ? (
            <Json value={call.error} label="Error" />
          ) : call.result !== null && call.result !== undefined ? (
            <div data-testid="masked-result">
              <ResultView result={call.result} />
            </div>
          ) : (
            <p className="muted">
              {call.decision?.effect === "deny" ? "Not forwarded: the policy denied it." : "No result recorded."}
            </p>
          )}
        </div>
      </div>
    </li>
  );
}

/** Text parts of an MCP result (tool content, resource contents), for reading without JSON escapes. */
function resultTexts(result: unknown): string[] | null {
  if (!result || typeof result !== "object") return null;
  const r = result as { content?: unknown; contents?: unknown };
  const items = Array.isArray(r.content) ? r.content : Array.isArray(r.contents) ? r.contents : null;
  if (!items) return null;
  const texts = items
    .map((i: unknown) =>
      i && typeof i === "object" && typeof (i as { text?: unknown }).text === "string" ? (i as { text: string }).text : null,
    )
    .filter((t): t is string => t !== null);
  return texts.length ? texts : null;
}

function ResultView({ result }: { result: unknown }) {
  const texts = resultTexts(result);
  const [raw, setRaw] = useState(texts === null);
  return (
    <>
      {raw || texts === null ? (
        <Json value={result} label="Result" />
      ) : (
        texts.map((t, i) => <Json key={i} value={t} label={`Result text ${i + 1}`} />)
      )}
      {texts !== null ? (
        <button type="button" className="btn btn-small btn-quiet raw-toggle" aria-pressed={raw} onClick={() => setRaw((r) => !r)}>
          {raw ? "Show as text" : "Show raw JSON"}
        </button>
      ) : null}
    </>
  );
}

const DIR: Record<AuditEventView["direction"], { text: string }> = {
  client_to_server: { text: "client → server" },
  server_to_client: { text: "server → client" },
  gateway: { text: "gateway" },
};

function Transcript({ events }: { events: AuditEventView[] }) {
  const [open, setOpen] = useState<Set<number>>(new Set());
  if (!events.length) return <Empty title="No events recorded" />;
  const toggle = (seq: number) =>
    setOpen((o) => {
      const n = new Set(o);
      if (n.has(seq)) n.delete(seq);
      else n.add(seq);
      return n;
    });
  const all = open.size === events.length;
  return (
    <>
      <div className="transcript-tools">
        <button
          type="button"
          className="btn btn-small btn-quiet"
          onClick={() => setOpen(all ? new Set() : new Set(events.map((e) => e.seq)))}
        >
          {all ? "Collapse all" : "Expand all"}
        </button>
      </div>
      <div className="scroll-x">
        <table className="table transcript">
          <thead>
            <tr>
              <th scope="col" className="num">
                #
              </th>
              <th scope="col">Time (UTC)</th>
              <th scope="col">Direction</th>
              <th scope="col">Kind</th>
              <th scope="col">Method / tool</th>
              <th scope="col">Decision</th>
              <th scope="col">Masked</th>
              <th scope="col">
                <span className="sr-only">Payload</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => {
              const isOpen = open.has(e.seq);
              return <TranscriptRow key={e.seq} e={e} isOpen={isOpen} onToggle={() => toggle(e.seq)} />;
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}

function TranscriptRow({ e, isOpen, onToggle }: { e: AuditEventView; isOpen: boolean; onToggle: () => void }) {
  const d = DIR[e.direction] ?? DIR.gateway;
  return (
    <>
      <tr className={isOpen ? "open" : undefined}>
        <td className="num muted">{e.seq}</td>
        <td className="mono small nowrap" title={e.at}>
          {timeOfDay(e.at)}
        </td>
        <td>
          <span className={`dir dir-${e.direction}`} title={d.text}>
            {d.text}
          </span>
        </td>
        <td>{e.kind}</td>
        <td>
          {e.method ? (
            <code>{e.method}</code>
          ) : e.rpc_id !== null ? (
            <span className="muted">answer to</span>
          ) : (
            <span className="muted">—</span>
          )}
          {e.tool ? <strong> {e.tool}</strong> : null}
          {e.rpc_id !== null ? <span className="muted small"> #{String(e.rpc_id)}</span> : null}
        </td>
        <td>
          {e.decision ? (
            <span title={e.decision.policy_version !== null ? `policy ${String(e.decision.policy_version)}` : undefined}>
              <DecisionBadge decision={e.decision} />{" "}
              {e.decision.rule ? <code>{e.decision.rule}</code> : <span className="muted small">default</span>}
            </span>
          ) : null}
        </td>
        <td>{e.masked && Object.values(e.masked).some((n) => n > 0) ? <MaskedChips masked={e.masked} /> : null}</td>
        <td>
          <button type="button" className="btn btn-small btn-quiet" aria-expanded={isOpen} onClick={onToggle}>
            {isOpen ? "Hide" : "Payload"}
          </button>
        </td>
      </tr>
      {isOpen ? (
        <tr className="payload-row">
          <td />
          <td colSpan={7}>
            <Json value={e.payload} label={`Payload of event ${e.seq}`} />
          </td>
        </tr>
      ) : null}
    </>
  );
}
