import { useState, type FormEvent } from "react";
import { errorText } from "../api";

/**
 * Approve or deny with a reason (recorded, shown to auditors): the one form for held calls
 * and access requests. `decide` does the request; its error is shown under the buttons.
 */
export function DecisionForm({
  label,
  decide,
  warning,
  placeholder = "e.g. ticket OPS-142, verified with the customer",
}: {
  label: string;
  decide: (verb: "approve" | "deny", reason: string) => Promise<void>;
  warning?: string;
  placeholder?: string;
}) {
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (verb: "approve" | "deny") => {
    if (!reason.trim()) {
      setError("Give a reason: it is recorded with your decision and shown to auditors.");
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
    const verb = submitter?.value === "deny" ? "deny" : submitter?.value === "approve" ? "approve" : null;
    if (verb) void run(verb);
    else setError("Choose Approve or Deny.");
  };
  return (
    <form className="decide" onSubmit={onSubmit} aria-label={label}>
      {/* A disabled first submit button: pressing Enter never decides by accident. */}
      <button type="submit" disabled hidden aria-hidden="true" tabIndex={-1} />
      <label>
        Reason (recorded, shown to auditors)
        <input
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          placeholder={placeholder}
          aria-required="true"
          name="reason"
        />
      </label>
      {warning ? <p className="muted small">{warning}</p> : null}
      <div className="decide-buttons">
        <button type="submit" value="approve" className="btn btn-primary" disabled={busy}>
          Approve
        </button>
        <button type="submit" value="deny" className="btn btn-danger" disabled={busy}>
          Deny
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
