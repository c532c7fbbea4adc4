export function SignIn({ problem, onRetry }: { problem?: string; onRetry?: () => void }) {
  const returnTo = window.location.pathname + window.location.search;
  const href = `/auth/login?return_to=${encodeURIComponent(returnTo)}`;
  return (
    <div className="signin">
      <div className="signin-card">
        <div className="signin-brand">
          <svg viewBox="0 0 32 32" aria-hidden="true" width="40" height="40">
            <rect width="32" height="32" rx="6" fill="#1f3a5f" />
            <path d="M8 26V12l8-5 8 5v14h-5v-7h-6v7z" fill="#fff" />
          </svg>
          <h1>Gatehouse</h1>
        </div>
        <p className="signin-lead">Sessions, approvals, policies and audit evidence for your organisation's MCP servers.</p>
        {problem ? (
          <div className="alert alert-error" role="alert">
            {problem}{" "}
            {onRetry ? (
              <button type="button" className="btn btn-small" onClick={onRetry}>
                Try again
              </button>
            ) : null}
          </div>
        ) : null}
        <a className="btn btn-primary btn-block" href={href} autoFocus>
          Sign in with your company account
        </a>
        <p className="muted small">You will be sent to your identity provider and brought back here.</p>
      </div>
    </div>
  );
}
