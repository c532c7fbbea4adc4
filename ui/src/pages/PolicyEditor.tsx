import { useEffect, useRef, useState, type FormEvent } from "react";
import { errorText, post, postText } from "../api";
import { CodeEditor, DiffView } from "../components/CodeView";
import { Empty, ErrorBanner, Loading, Notice, PageHeader, Section, Time } from "../components/ui";
import { num } from "../lib/format";
import { useApi } from "../lib/useApi";
import { Link } from "../router";
import type { DryRun, PolicyCheck, PolicyDocument, PolicyList, PolicyProblem } from "../types";

const STARTER = `version: 1
default: deny

rules:
  - name: engineers-read
    principals: {groups: [engineers]}
    methods: [tools/call]
    effect: allow
`;

type CheckState =
  | { kind: "idle" }
  | { kind: "checking" }
  | { kind: "ok" }
  | { kind: "bad"; errors: PolicyProblem[] }
  | { kind: "failed"; message: string };

export function PolicyEditorPage() {
  const list = useApi<PolicyList>("/api/v1/policies");
  const inForce = list.data?.in_force ?? null;
  const current = useApi<PolicyDocument>(inForce !== null ? `/api/v1/policies/${inForce}` : null);
  const [text, setText] = useState<string | null>(null);
  const [check, setCheck] = useState<CheckState>({ kind: "idle" });
  const [since, setSince] = useState("7d");
  const [dry, setDry] = useState<{ text: string; since: string; result: DryRun } | null>(null);
  const [dryBusy, setDryBusy] = useState(false);
  const [dryError, setDryError] = useState<string | null>(null);
  const [publishing, setPublishing] = useState(false);
  const [published, setPublished] = useState<{ version: number } | null>(null);
  const [publishError, setPublishError] = useState<string | null>(null);
  const [showDiff, setShowDiff] = useState(false);
  const editor = useRef<HTMLTextAreaElement>(null);

  const base = inForce === null ? (list.data ? "" : null) : (current.data?.document ?? null);
  useEffect(() => {
    if (text === null && base !== null) setText(base || STARTER);
  }, [base, text]);

  // Validate as the person types: the same checker as `gatehouse policy check`, 400 ms after the last key.
  useEffect(() => {
    if (text === null) return;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      setCheck({ kind: "checking" });
      postText<PolicyCheck>("/api/v1/policies/check", text, ctl.signal).then(
        (r) => setCheck(r.ok ? { kind: "ok" } : { kind: "bad", errors: r.errors }),
        (e: unknown) => {
          if (e instanceof DOMException && e.name === "AbortError") return;
          setCheck({ kind: "failed", message: errorText(e) });
        },
      );
    }, 400);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [text]);

  if (list.error) return <ErrorBanner error={list.error} onRetry={list.reload} />;
  if (text === null) return <Loading what="the policy in force" />;

  const problems = check.kind === "bad" ? check.errors : [];
  const unchanged = base !== null && text === base;
  const dryFresh = dry !== null && dry.text === text;
  const mayPublish = check.kind === "ok" && !unchanged && dryFresh && !publishing;

  const jump = (p: PolicyProblem) => {
    const t = editor.current;
    if (!t) return;
    const lines = text.split("\n");
    let pos = 0;
    for (let i = 0; i < p.line - 1 && i < lines.length; i++) pos += lines[i]!.length + 1;
    pos += Math.max(0, p.column - 1);
    t.focus();
    t.setSelectionRange(pos, pos);
    const lineHeight = 20;
    t.scrollTop = Math.max(0, (p.line - 5) * lineHeight);
  };

  const runDry = async (e: FormEvent) => {
    e.preventDefault();
    setDryBusy(true);
    setDryError(null);
    try {
      const result = await post<DryRun>("/api/v1/policies/dry-run", { document: text, since });
      setDry({ text, since, result });
    } catch (err) {
      setDryError(errorText(err));
    } finally {
      setDryBusy(false);
    }
  };

  const publish = async () => {
    setPublishing(true);
    setPublishError(null);
    try {
      const r = await postText<{ version: number; digest: string; published_by: string }>("/api/v1/policies", text);
      setPublished({ version: r.version });
      list.reload();
      setDry(null);
    } catch (err) {
      setPublishError(errorText(err));
    } finally {
      setPublishing(false);
    }
  };

  return (
    <>
      <PageHeader
        title="Edit policy"
        subtitle={
          <>
            <Link to="/policies">← Policies</Link> ·{" "}
            {inForce !== null ? (
              <>
                starting from v{inForce}, in force since <Time at={current.data?.published_at} />
              </>
            ) : (
              "no version is in force yet"
            )}
          </>
        }
      />
      {published ? (
        <Notice kind="success">
          Published <Link to={`/policies/${published.version}`}>v{published.version}</Link>. Every gateway applies it within a
          second, without dropping sessions.
        </Notice>
      ) : null}
      <div className="editor-layout">
        <Section
          title="Document (YAML)"
          id="doc"
          actions={
            <span className={`check check-${check.kind}`} role="status" aria-live="polite" data-testid="check-status">
              {check.kind === "checking"
                ? "Checking…"
                : check.kind === "ok"
                  ? "✓ Valid"
                  : check.kind === "bad"
                    ? `✗ ${check.errors.length} problem${check.errors.length === 1 ? "" : "s"}`
                    : check.kind === "failed"
                      ? "Could not check"
                      : ""}
            </span>
          }
        >
          <p id="editor-help" className="muted small">
            Checked as you type with the same rules as <code>gatehouse policy check</code>. Tab indents; press Escape then Tab to
            leave the editor.
          </p>
          <CodeEditor value={text} onChange={setText} problems={problems} label="Policy document" editorRef={editor} />
          {check.kind === "failed" ? (
            <p className="form-error" role="alert">
              {check.message}
            </p>
          ) : null}
          {problems.length ? (
            <ul className="problems" aria-label="Problems" data-testid="problems">
              {problems.map((p, i) => (
                <li key={i}>
                  <button type="button" className="linklike" onClick={() => jump(p)}>
                    <span className="mono">
                      {p.line}:{p.column}
                    </span>{" "}
                    {p.message}
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
          {base !== null && base !== "" ? (
            <div className="diff-toggle">
              <button
                type="button"
                className="btn btn-small btn-quiet"
                aria-expanded={showDiff}
                onClick={() => setShowDiff((s) => !s)}
              >
                {showDiff ? "Hide changes" : "Show changes from the version in force"}
              </button>
              {showDiff ? <DiffView before={base} after={text} label="Changes from the version in force" /> : null}
            </div>
          ) : null}
        </Section>
        <div className="editor-side">
          <Section title="1. Dry run against recorded history" id="dry">
            <form onSubmit={runDry} className="row-form">
              <label>
                Replay requests from the last
                <select value={since} onChange={(e) => setSince(e.target.value)}>
                  <option value="24h">24 hours</option>
                  <option value="7d">7 days</option>
                  <option value="30d">30 days</option>
                  <option value="90d">90 days</option>
                </select>
              </label>
              <button type="submit" className="btn" disabled={dryBusy || check.kind === "bad"}>
                {dryBusy ? "Running…" : "Run dry run"}
              </button>
            </form>
            {dryError ? (
              <p className="form-error" role="alert">
                {dryError}
              </p>
            ) : null}
            {dry ? (
              <DryRunResult dry={dry.result} since={dry.since} stale={!dryFresh} />
            ) : (
              <p className="muted small">See which recorded requests would be decided differently before anything changes.</p>
            )}
          </Section>
          <Section title="2. Publish" id="publish">
            <p className="small">
              {unchanged
                ? "Nothing to publish: the document is the version in force."
                : check.kind !== "ok"
                  ? "Fix the problems first; only a valid document can be published."
                  : !dryFresh
                    ? "Run the dry run on this exact text first."
                    : "Ready. The new version takes effect on every gateway at once."}
            </p>
            <button type="button" className="btn btn-primary btn-block" disabled={!mayPublish} onClick={publish}>
              {publishing ? "Publishing…" : "Publish new version"}
            </button>
            {publishError ? (
              <p className="form-error" role="alert">
                {publishError}
              </p>
            ) : null}
          </Section>
        </div>
      </div>
    </>
  );
}

function DryRunResult({ dry, since, stale }: { dry: DryRun; since: string; stale: boolean }) {
  return (
    <div className="dry" data-testid="dry-run">
      {stale ? <Notice kind="warn">The document changed since this dry run; run it again before publishing.</Notice> : null}
      <p>
        <strong>{num(dry.requests)}</strong> recorded request{dry.requests === 1 ? "" : "s"} from the last {since} replayed;{" "}
        <strong>{num(dry.changes.length)}</strong> would be decided differently.
      </p>
      {dry.changes.length === 0 ? (
        <Empty title="No recorded request changes its outcome" />
      ) : (
        <div className="dry-table">
          <table className="table compact">
            <thead>
              <tr>
                <th scope="col">Recorded request</th>
                <th scope="col">Before → after</th>
              </tr>
            </thead>
            <tbody>
              {dry.changes.slice(0, 200).map((c, i) => (
                <tr key={i}>
                  <td>
                    <strong>{c.user}</strong>
                    <span className="block small">
                      {c.server} / {c.tool ?? c.method ?? "—"}
                    </span>
                  </td>
                  <td>
                    <span className="nowrap">
                      <span className="badge badge-muted">{c.before}</span> →{" "}
                      <span
                        className={`badge ${c.after.startsWith("deny") ? "badge-bad" : c.after.startsWith("allow") ? "badge-ok" : "badge-warn"}`}
                      >
                        {c.after}
                      </span>
                    </span>
                    {c.rule ? <span className="block muted small">rule {c.rule}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {dry.changes.length > 200 ? (
            <p className="muted small">Showing the first 200 of {num(dry.changes.length)} changes.</p>
          ) : null}
        </div>
      )}
    </div>
  );
}
