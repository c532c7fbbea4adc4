import { useRef, type KeyboardEvent, type RefObject } from "react";
import { withContext, lineDiff } from "../lib/diff";
import type { PolicyProblem } from "../types";

/** A read-only document with line numbers. */
export function CodeView({ text, label }: { text: string; label: string }) {
  const lines = text.split("\n");
  return (
    <div className="code" role="region" aria-label={label} tabIndex={0}>
      <table>
        <tbody>
          {lines.map((l, i) => (
            <tr key={i}>
              <td className="ln">{i + 1}</td>
              <td className="src">{l || " "}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Unified line diff with three lines of context. */
export function DiffView({ before, after, label }: { before: string; after: string; label: string }) {
  const hunks = withContext(lineDiff(before, after), 3);
  const changed = hunks.some((h) => h.kind === "add" || h.kind === "del");
  if (!changed) return <p className="muted">The two documents are identical.</p>;
  const adds = hunks.filter((h) => h.kind === "add").length;
  const dels = hunks.filter((h) => h.kind === "del").length;
  return (
    <div className="code diff" role="region" aria-label={label} tabIndex={0}>
      <p className="diff-summary">
        <span className="diff-add-count">+{adds}</span> <span className="diff-del-count">−{dels}</span> lines
      </p>
      <table>
        <tbody>
          {hunks.map((h, i) =>
            h.kind === "skip" ? (
              <tr key={i} className="skip">
                <td className="ln" />
                <td className="ln" />
                <td className="src muted">
                  ⋯ {h.count} unchanged line{h.count === 1 ? "" : "s"}
                </td>
              </tr>
            ) : (
              <tr key={i} className={`d-${h.kind}`}>
                <td className="ln">{h.oldNo ?? ""}</td>
                <td className="ln">{h.newNo ?? ""}</td>
                <td className="src">
                  <span className="sign" aria-label={h.kind === "add" ? "added" : h.kind === "del" ? "removed" : undefined}>
                    {h.kind === "add" ? "+" : h.kind === "del" ? "−" : " "}
                  </span>
                  {h.text || " "}
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}

/** A textarea with a line-number gutter; lines with problems are marked in the gutter. */
export function CodeEditor({
  value,
  onChange,
  problems,
  label,
  editorRef,
}: {
  value: string;
  onChange: (v: string) => void;
  problems: PolicyProblem[];
  label: string;
  editorRef?: RefObject<HTMLTextAreaElement | null>;
}) {
  const gutter = useRef<HTMLDivElement>(null);
  const lines = value.split("\n").length;
  const bad = new Set(problems.map((p) => p.line));
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    // Tab indents by two spaces (YAML); Escape then Tab leaves the editor, so keyboard users are not trapped.
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && e.currentTarget.dataset.escaped !== "1") {
      e.preventDefault();
      const t = e.currentTarget;
      const { selectionStart: s, selectionEnd: end } = t;
      const v = t.value.slice(0, s) + "  " + t.value.slice(end);
      onChange(v);
      requestAnimationFrame(() => {
        t.selectionStart = t.selectionEnd = s + 2;
      });
    }
    e.currentTarget.dataset.escaped = e.key === "Escape" ? "1" : "0";
  };
  return (
    <div className="editor">
      <div className="gutter" ref={gutter} aria-hidden="true">
        {Array.from({ length: lines }, (_, i) => (
          <div key={i} className={bad.has(i + 1) ? "ln bad" : "ln"}>
            {i + 1}
          </div>
        ))}
      </div>
      <textarea
        ref={editorRef}
        aria-label={label}
        aria-describedby="editor-help"
        spellCheck={false}
        autoCapitalize="off"
        autoComplete="off"
        wrap="off"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={onKeyDown}
        onScroll={(e) => {
          if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
        }}
      />
    </div>
  );
}
