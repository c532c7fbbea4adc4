//! Identity's own state, shared by its handlers (sign-in, the authorization server) and
//! given to the gateway and the JSON API, which check tokens and cookies with it. Built
//! once from the configuration; it knows nothing of the gateway.

use super::auth::{Authenticator, Principal};
use super::authz::failures;
use super::authz::server::AuthServer;
use super::oidc::JwtVerifier;
use super::signin::cookies::{SESSION_COOKIE, cookie, cookie_name};
use super::signin::oidc_rp::RelyingParty;
use super::signin::saml_sp::SamlSp;
use crate::config::{Config, ConfigError};
use crate::host_guard::HostGuard;
use crate::store::Store;
use gatehouse_pipeline::Record;
use http::HeaderMap;
use std::sync::Arc;

/// Who may sign in and how: token checking, dashboard sign-in and the authorization
/// server MCP clients see.
pub struct Identity {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The store (sign-ins, grants, clients, the control record).
    pub store: Store,
    /// Whether `[dev]` users may sign in (`serve --dev`, `gatehouse demo`).
    pub dev_mode: bool,
    /// Checks `[dev]` tokens.
    pub(crate) auth: Authenticator,
    /// DNS-rebinding protection of the pages and forms.
    pub(crate) hosts: HostGuard,
    /// Dashboard sign-in through the company's OpenID provider, when configured.
    pub(crate) relying_party: Option<RelyingParty>,
    /// Dashboard sign-in through a SAML identity provider, when configured.
    pub(crate) saml: Option<SamlSp>,
    /// The authorization server MCP clients see (on when `relying_party` is, or in dev mode).
    pub(crate) authz: Option<AuthServer>,
    /// Verifies access tokens from the configured identity provider.
    pub(crate) oidc: Option<JwtVerifier>,
}

impl Identity {
    /// Identity over a store; `dev_mode` decides whether `[dev]` tokens sign anyone in.
    pub fn new(config: Arc<Config>, store: Store, dev_mode: bool) -> Result<Identity, ConfigError> {
        let auth = Authenticator::new(dev_mode, &config.dev.tokens);
        let hosts = HostGuard::new(&config.public_base(), &config.allowed_hosts);
        let oidc = config.oidc.clone().map(JwtVerifier::new);
        let relying_party = match &config.oidc {
            Some(o) => RelyingParty::new(o, &config.public_base())?,
            None => None,
        };
        let saml = config
            .saml
            .as_ref()
            .map(|s| SamlSp::new(s, &config.public_base()));
        // MCP clients sign in at the control plane when people can sign in: through
        // the identity provider, or in dev mode by picking a [dev] user.
        let authz = if relying_party.is_some() || dev_mode {
            Some(AuthServer::new(&config)?)
        } else {
            None
        };
        Ok(Identity {
            config,
            store,
            dev_mode,
            auth,
            hosts,
            relying_party,
            saml,
            authz,
            oidc,
        })
    }

    /// The authorization server, when MCP client sign-in is configured.
    pub fn auth_server(&self) -> Option<&AuthServer> {
        self.authz.as_ref()
    }

    /// Re-reads recently revoked grants (revocations from another replica or the CLI).
    pub(crate) async fn refresh_revocations(&self) {
        let Some(az) = &self.authz else { return };
        match self
            .store
            .recently_revoked_grants(self.config.authz.access_token_secs + 60)
            .await
        {
            Ok(ids) => az.set_revoked(ids),
            Err(e) => tracing::warn!(error = %e, "cannot read revoked grants"),
        }
    }

    /// Revokes a grant everywhere, recording who and why.
    pub(crate) async fn revoke_grant(&self, grant: &str, reason: &str, source: &str) {
        if let Some(az) = &self.authz {
            az.mark_revoked(grant);
        }
        match self.store.revoke_grant(grant, reason).await {
            Ok(Some(user)) => {
                self.control_event(
                    "token_revoked",
                    serde_json::json!({ "user": user, "grant": grant, "reason": reason, "source": source }),
                )
                .await
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, grant, "could not revoke a grant"),
        }
    }

    /// Records a refused sign-in or token (rate-limited per source address).
    pub(crate) async fn auth_failure(&self, source: &str, detail: serde_json::Value) {
        let limit = match &self.authz {
            Some(az) => az.failures.admit(source),
            None => failures::Admit::Record,
        };
        match limit {
            failures::Admit::Record => {
                let mut d = detail;
                d["source"] = source.into();
                self.control_event("auth_failed", d).await
            }
            failures::Admit::RecordLast(per_minute) => {
                let mut d = detail;
                d["source"] = source.into();
                d["note"] = format!(
                    "{per_minute} failures from this address this minute: further ones are counted, not recorded"
                )
                .into();
                self.control_event("auth_failed", d).await
            }
            failures::Admit::Suppress => {}
        }
    }

    /// Records the counts of suppressed failures of windows that ended (or all, at
    /// shutdown).
    pub(crate) async fn flush_failures(&self, all: bool) {
        let Some(az) = &self.authz else { return };
        for (source, count) in az.failures.take_suppressed(all) {
            self.control_event(
                "auth_failures_suppressed",
                serde_json::json!({ "source": source, "count": count }),
            )
            .await;
        }
    }

    /// The person signed in to the dashboard by this request's cookie, if any.
    pub async fn cookie_principal(&self, headers: &HeaderMap) -> Option<Principal> {
        let value = cookie(headers, &cookie_name(&self.config, SESSION_COOKIE))?;
        match self.store.web_session(value).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read dashboard sign-ins; treating the request as signed out");
                None
            }
        }
    }

    /// Records something the control plane itself did or refused (a sign-in, a failure, a
    /// sign-out, an admin's decision) in the day's control record.
    pub(crate) async fn control_event(&self, kind: &str, detail: serde_json::Value) {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let id = format!("control-{day}");
        if let Err(e) = self.store.ensure_control_session(&id).await {
            tracing::error!(error = %e, "cannot open the control record");
            return;
        }
        if let Err(e) = self
            .store
            .record(vec![Record::note(&id, kind, detail)])
            .await
        {
            tracing::error!(error = %e, kind, "cannot record a control-plane event");
        }
    }
}
