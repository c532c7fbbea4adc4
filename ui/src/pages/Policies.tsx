import { useState } from "react";
import { can, useMe } from "../auth";
import { CodeView, DiffView } from "../components/CodeView";
import { Empty, ErrorBanner, Loading, PageHeader, Time } from "../components/ui";
import { short } from "../lib/format";
import { useApi } from "../lib/useApi";
import { Link, navigate } from "../router";
import type { PolicyDocument, PolicyList } from "../types";
import { onTabKeys } from "../lib/tabs";

/** `config:/etc/gatehouse/policy.yaml` (seeded from the config file) → `policy.yaml (config file)`. */
function author(by: string): string {
  if (by.startsWith("config:")) return `${by.split("/").pop() ?? by} (config file)`;
  return by;
}

export function PoliciesPage({ selected }: { selected?: number }) {
  const me = useMe();
  const list = useApi<PolicyList>("/api/v1/policies");
  const versions = list.data?.versions ?? [];
  const inForce = list.data?.in_force ?? null;
  const current = selected ?? inForce ?? versions[0]?.version ?? null;
  const older = versions.filter((v) => current !== null && v.version < current);
  const [compareTo, setCompareTo] = useState<number | null>(null);
  const base = compareTo !== null && older.some((v) => v.version === compareTo) ? compareTo : (older[0]?.version ?? null);
  const [tab, setTab] = useState<"document" | "changes">("document");

  const doc = useApi<PolicyDocument>(current !== null ? `/api/v1/policies/${current}` : null);
  const prev = useApi<PolicyDocument>(tab === "changes" && base !== null ? `/api/v1/policies/${base}` : null);

  return (
    <>
      <PageHeader
        title="Policies"
        subtitle={
          inForce !== null ? (
            <>
              Version <strong>v{inForce}</strong> is in force on every gateway. Each published version is kept with its author.
            </>
          ) : (
            "Which person may use which server, tool and arguments; what is denied and what waits for approval."
          )
        }
        actions={
          can.publishPolicies(me) ? (
            <Link to="/policies/edit" className="btn btn-primary">
              Edit and publish…
            </Link>
          ) : null
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {list.loading && !list.data ? <Loading what="policy versions" /> : null}
      {list.data && versions.length === 0 ? (
        <Empty title="No policy has been published">
          <p>
            Without a policy every signed-in person may use every server.{" "}
            {can.publishPolicies(me) ? (
              <>
                <Link to="/policies/edit">Write the first version</Link>, or publish one with{" "}
                <code>gatehouse policy push FILE</code>.
              </>
            ) : (
              "An admin publishes one here or with gatehouse policy push."
            )}
          </p>
        </Empty>
      ) : null}
      {versions.length > 0 ? (
        <div className="split">
          <nav className="card versions" aria-label="Policy versions">
            <h2>History</h2>
            <ol>
              {versions.map((v) => (
                <li key={v.version}>
                  <Link
                    to={`/policies/${v.version}`}
                    className={v.version === current ? "version active" : "version"}
                    aria-current={v.version === current ? "page" : undefined}
                  >
                    <span className="version-line">
                      <strong>v{v.version}</strong>
                      {v.version === inForce ? <span className="badge badge-ok">in force</span> : null}
                    </span>
                    <span className="small" title={v.published_by}>
                      by {author(v.published_by)}
                    </span>
                    <span className="small muted">
                      <Time at={v.published_at} />
                    </span>
                  </Link>
                </li>
              ))}
            </ol>
          </nav>
          <section className="card grow" aria-label="Policy document">
            <div className="card-head">
              <h2>
                Version v{current}
                {current === inForce ? <span className="badge badge-ok">in force</span> : null}
              </h2>
              <div className="tabs small-tabs" role="tablist" onKeyDown={onTabKeys} aria-label="Show">
                <button
                  type="button"
                  role="tab"
                  aria-selected={tab === "document"}
                  tabIndex={tab === "document" ? 0 : -1}
                  className={tab === "document" ? "tab active" : "tab"}
                  onClick={() => setTab("document")}
                >
                  Document
                </button>
                <button
                  type="button"
                  role="tab"
                  aria-selected={tab === "changes"}
                  tabIndex={tab === "changes" ? 0 : -1}
                  className={tab === "changes" ? "tab active" : "tab"}
                  onClick={() => setTab("changes")}
                  disabled={older.length === 0}
                  title={older.length === 0 ? "The first version has nothing to compare with" : undefined}
                >
                  Changes
                </button>
              </div>
            </div>
            <ErrorBanner error={doc.error} onRetry={doc.reload} />
            {doc.data ? (
              <>
                <p className="muted small meta-line">
                  Published by <strong title={doc.data.published_by}>{author(doc.data.published_by)}</strong> on{" "}
                  <Time at={doc.data.published_at} /> · digest <code title={doc.data.digest}>{short(doc.data.digest, 16)}</code>
                </p>
                {tab === "document" ? (
                  <CodeView text={doc.data.document} label={`Policy v${current}`} />
                ) : base === null ? (
                  <p className="muted">The first version has nothing to compare with.</p>
                ) : (
                  <>
                    <label className="inline">
                      Compare with{" "}
                      <select value={base} onChange={(e) => setCompareTo(Number(e.target.value))}>
                        {older.map((v) => (
                          <option key={v.version} value={v.version}>
                            v{v.version} by {author(v.published_by)}
                          </option>
                        ))}
                      </select>
                    </label>
                    <ErrorBanner error={prev.error} onRetry={prev.reload} />
                    {prev.data && prev.data.version === base ? (
                      <DiffView
                        before={prev.data.document}
                        after={doc.data.document}
                        label={`Changes from v${base} to v${current}`}
                      />
                    ) : (
                      <Loading what={`v${base}`} />
                    )}
                  </>
                )}
              </>
            ) : doc.loading ? (
              <Loading what={`v${current}`} />
            ) : null}
          </section>
        </div>
      ) : null}
      {selected !== undefined && list.data && !versions.some((v) => v.version === selected) ? (
        <Empty title={`There is no version v${selected}`}>
          <button type="button" className="btn" onClick={() => navigate("/policies")}>
            Show the version in force
          </button>
        </Empty>
      ) : null}
    </>
  );
}
