//! Running an admin-configured local server by name, the same way wherever it runs: in
//! the tray app (sessions handed over by `gatehouse connect NAME`, see [`crate::host`]) or
//! in `gatehouse connect NAME` itself when no tray app runs. Each session resolves the
//! catalog (fresh, else cached, else refuse), puts the pushed policy in force, and runs
//! the server under capture with that server's masking profile, recording into the spool.

use crate::api::ControlPlane;
use crate::approvals::LocalApprovals;
use crate::capture::{Capture, CaptureError};
use crate::local_servers::{self, Catalog, CatalogError, Freshness};
use crate::policy::LocalPolicy;
use crate::spool::Spool;
use crate::upload::{TokenSource, Uploader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// Why a local server did not run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No rules to run it under, or the control plane refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The name is not a local server of this person.
    #[error(
        "`{0}` is not a local server you may run (the control plane lists: {1}); ask an admin to add it under [[local_servers]] for one of your groups"
    )]
    Unknown(String, String),
    /// It could not start (masking profile, environment, program).
    #[error("local server `{0}`: {1}")]
    Start(String, String),
    /// The capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// What every local session shares: where records go, who asks, the policy holder.
#[derive(Clone)]
pub struct Runtime {
    home: PathBuf,
    api: ControlPlane,
    tokens: TokenSource,
    policy: LocalPolicy,
    spool: Spool,
    uploader: Option<Uploader>,
    host: String,
}

impl Runtime {
    /// A runtime over the app folder `home` (its spool, policy and catalog caches).
    /// `host` names what runs it (`tray`, `connect`); `uploader` is woken after records.
    pub async fn open(
        home: &Path,
        api: ControlPlane,
        tokens: TokenSource,
        uploader: Option<Uploader>,
        host: &str,
    ) -> Result<Runtime, crate::spool::SpoolError> {
        Ok(Runtime {
            home: home.to_path_buf(),
            policy: LocalPolicy::load(home),
            spool: Spool::open(&home.join("spool.db")).await?,
            api,
            tokens,
            uploader,
            host: host.to_string(),
        })
    }

    /// Wakes `uploader` after every record.
    pub fn set_uploader(&mut self, uploader: Uploader) {
        self.uploader = Some(uploader);
    }

    /// The spool sessions record into.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The policy holder (the tray also feeds it from the watch stream).
    pub fn policy(&self) -> &LocalPolicy {
        &self.policy
    }

    /// The catalog now (fresh, else cached, else an error), with its policy in force.
    pub async fn catalog(&self) -> Result<(Catalog, Freshness), CatalogError> {
        let token = (self.tokens)().await;
        let (catalog, fresh) = local_servers::resolve(&self.api, token, &self.home).await?;
        if let Freshness::Cached(why) = &fresh {
            tracing::info!(why = %why, fetched_at = %catalog.fetched_at, "local servers run under the cached rules");
        }
        if let Some(v) = &catalog.policy {
            let newer = self.policy.current().is_none_or(|p| p.number < v.version);
            if (fresh == Freshness::Online || newer)
                && let Err(e) = self.policy.apply(v)
            {
                tracing::warn!(error = %e, "the pushed policy does not load; keeping the previous one");
            }
        }
        Ok((catalog, fresh))
    }

    /// Runs local server `name` for one client on `input`/`output` until the client closes.
    pub async fn run<R, W>(&self, name: &str, input: R, output: W) -> Result<(), LocalError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (catalog, _) = self.catalog().await?;
        self.run_under(&catalog, name, input, output).await
    }

    /// Runs local server `name` under `catalog`, which the caller has just resolved with
    /// [`Runtime::catalog`] (one request to the control plane per session, not two).
    pub async fn run_under<R, W>(
        &self,
        catalog: &Catalog,
        name: &str,
        input: R,
        output: W,
    ) -> Result<(), LocalError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let capture = self.capture(catalog, name)?;
        let server = catalog
            .server(name)
            .cloned()
            .ok_or_else(|| self.unknown(catalog, name))?;
        let env = server
            .resolved_env()
            .map_err(|e| LocalError::Start(name.into(), e))?;
        capture
            .run(&server.command, &server.args, env, input, output)
            .await?;
        Ok(())
    }

    fn unknown(&self, catalog: &Catalog, name: &str) -> LocalError {
        let names: Vec<&str> = catalog.servers.iter().map(|s| s.name.as_str()).collect();
        LocalError::Unknown(
            name.to_string(),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        )
    }

    /// The capture settings for `name` from `catalog`.
    pub fn capture(&self, catalog: &Catalog, name: &str) -> Result<Capture, LocalError> {
        let server = catalog
            .server(name)
            .ok_or_else(|| self.unknown(catalog, name))?;
        let masker = server
            .masker()
            .map_err(|e| LocalError::Start(name.into(), e))?;
        Ok(Capture {
            server: server.name.clone(),
            user: catalog.user.clone(),
            groups: catalog.groups.clone(),
            identity: Some(crate::capture::Identity::new(
                self.api.clone(),
                self.tokens.clone(),
            )),
            policy: self.policy.clone(),
            masker: Arc::new(masker),
            spool: self.spool.clone(),
            uploader: self.uploader.clone(),
            approvals: Some(LocalApprovals::new(self.api.clone(), self.tokens.clone())),
            host: self.host.clone(),
        })
    }
}
