//! The gateway's shared state: configuration, store, sessions, the policy in force, the
//! identity it checks tokens with, and the link to agents.

use super::agent_link::AgentLink;
use super::ended;
use super::policy;
use super::session::SessionTable;
use crate::config::Config;
use crate::identity::{Identity, authz};
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything the gateway's handlers share.
pub struct Gateway {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The session store.
    pub store: Store,
    /// Who may sign in and how (token checks, sign-in, the authorization server): shared
    /// with identity's own routes.
    pub identity: Arc<Identity>,
    /// Metrics.
    pub metrics: Metrics,
    /// Live sessions.
    pub sessions: SessionTable,
    pub(crate) masking: crate::config::Masking,
    /// The policy in force (`None`: every signed-in person may use every server); swapped
    /// whole when a new version is published.
    /// A watch channel, so streams (`/api/v1/policies/watch`) learn of a new version at once.
    pub(crate) policy: tokio::sync::watch::Sender<Option<Arc<policy::PolicyInForce>>>,
    /// The pending approvals as last read from the store, for live queues.
    pub(crate) pending_approvals: tokio::sync::watch::Sender<Arc<Vec<crate::approvals::Approval>>>,
    /// Serializes creation of stateless-era group sessions.
    pub(crate) group_lock: tokio::sync::Mutex<()>,
    /// Why recently ended sessions ended (told to their person on a late call).
    pub(super) ended: ended::RecentlyEnded,
    /// Signs audit checkpoints.
    pub(crate) signing_key: gatehouse_audit::SigningKey,
    /// Fired on shutdown: ends server streams so open connections can drain.
    pub shutdown: CancellationToken,
    /// How sessions reach servers behind an agent (`agent = "NAME"`), given by whoever
    /// serves the agents' connections ([`Gateway::link_agents`]).
    pub(super) agent_link: std::sync::OnceLock<Arc<dyn AgentLink>>,
}

impl Gateway {
    /// A gateway over a store; `dev_mode` decides whether `[dev]` tokens sign anyone in.
    pub fn new(
        config: Config,
        store: Store,
        dev_mode: bool,
    ) -> Result<Arc<Gateway>, crate::config::ConfigError> {
        let masking = config.masking()?;
        let agents: std::collections::BTreeSet<String> =
            config.servers.iter().flat_map(|s| s.agents()).collect();
        let metrics = Metrics::for_servers(config.servers.iter().map(|s| s.name.as_str()))
            .with_agents_and_sinks(
                &agents.into_iter().collect::<Vec<_>>(),
                &config.audit.sink_names(),
            );
        let policy = config
            .policy()?
            .map(|p| Arc::new(policy::PolicyInForce::new(p, 0)));
        if policy.is_none() {
            tracing::warn!(
                "no policy_file configured and none published yet: every signed-in person may use every configured server"
            );
        }
        let signing_key = config.signing_key()?;
        let config = Arc::new(config);
        let identity = Arc::new(Identity::new(config.clone(), store.clone(), dev_mode)?);
        Ok(Arc::new(Gateway {
            identity,
            signing_key,
            policy: tokio::sync::watch::Sender::new(policy),
            pending_approvals: tokio::sync::watch::Sender::new(Arc::new(Vec::new())),
            masking,
            config,
            store,
            metrics,
            sessions: SessionTable::default(),
            group_lock: tokio::sync::Mutex::new(()),
            ended: ended::RecentlyEnded::default(),
            shutdown: CancellationToken::new(),
            agent_link: std::sync::OnceLock::new(),
        }))
    }

    /// The authorization server, when MCP client sign-in is configured.
    pub fn auth_server(&self) -> Option<&authz::AuthServer> {
        self.identity.auth_server()
    }

    /// Gives the gateway its way to servers behind agents; the first link given stays.
    pub fn link_agents(&self, link: Arc<dyn AgentLink>) {
        if self.agent_link.set(link).is_err() {
            tracing::warn!("the gateway already has its agent link; keeping the first");
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Option<Arc<policy::PolicyInForce>> {
        self.policy.borrow().clone()
    }
}
