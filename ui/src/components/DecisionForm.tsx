import { useState, type FormEvent } from "react";
import { errorText } from "../api";

/** One of a form's buttons: the value `decide` receives, and the button's text. */
export type Choice<V extends string> = { value: V; label: string };

/** The text field of a decision: its label, its form name, and what to say when it is empty. */
export type DecisionField = { label: string; name: string; missing: string };

const APPROVE_OR_DENY: Choice<"approve" | "deny">[] = [
  { value: "approve", label: "Approve" },
  { value: "deny", label: "Deny" },
];

const REASON: DecisionField = {
  label: "Reason (recorded, shown to auditors)",
  name: "reason",
  missing: "Give a reason: it is recorded with your decision and shown to auditors.",
};

/**
 * A decision with a reason (recorded, shown to auditors): the one form for held calls and
 * access requests (approve or deny) and for access review entries (keep or revoke). The first
 * choice is the primary button, the second the dangerous one. `decide` does the request; its
 * error is shown under the buttons.
 */
export function DecisionForm<V extends string = "approve" | "deny">({
  label,
  decide,
  warning,
  placeholder = "e.g. ticket OPS-142, verified with the customer",
  choices = APPROVE_OR_DENY as unknown as [Choice<V>, Choice<V>],
  field = REASON,
}: {
  label: string;
  decide: (verb: V, reason: string) => Promise<void>;
  warning?: string;
  placeholder?: string;
  choices?: [Choice<V>, Choice<V>];
  field?: DecisionField;
}) {
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (verb: V) => {
    if (!reason.trim()) {
      setError(field.missing);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await decide(verb, reason.trim());
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const submitter = (e.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    const choice = choices.find((c) => c.value === submitter?.value);
    if (choice) void run(choice.value);
    else setError(`Choose ${choices[0].label} or ${choices[1].label}.`);
  };
  return (
    <form className="decide" onSubmit={onSubmit} aria-label={label}>
      {/* A disabled first submit button: pressing Enter never decides by accident. */}
      <button type="submit" disabled hidden aria-hidden="true" tabIndex={-1} />
      <label>
        {field.label}
        <input
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          placeholder={placeholder}
          aria-required="true"
          name={field.name}
        />
      </label>
      {warning ? <p className="muted small">{warning}</p> : null}
      <div className="decide-buttons">
        <button type="submit" value={choices[0].value} className="btn btn-primary" disabled={busy}>
          {choices[0].label}
        </button>
        <button type="submit" value={choices[1].value} className="btn btn-danger" disabled={busy}>
          {choices[1].label}
        </button>
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}
