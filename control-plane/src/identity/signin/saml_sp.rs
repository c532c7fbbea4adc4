//! The control plane as a SAML 2.0 service provider for people signing in to the
//! dashboard: SP metadata, an AuthnRequest by HTTP-Redirect, and an assertion consumer
//! that believes a response only when its signature verifies against the IdP's
//! certificate (xmlsec, via `samael`), its audience is us, it answers our own request, it
//! is within its validity window, and its assertion was never used before.

use crate::config::SamlConfig;
use crate::identity::auth::Principal;
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::schema::Assertion;
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};
use samael::traits::ToXml;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a person may take at the IdP before the login must restart.
const LOGIN_TTL: Duration = Duration::from_secs(600);

/// A login sent to the IdP: the request id its answer must name, where to go after.
struct PendingLogin {
    request_id: String,
    return_to: String,
    started: Instant,
}

/// Why a SAML sign-in failed (shown to the person, recorded).
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// Metadata missing, unreadable, or without a signing certificate.
    #[error("the SAML identity provider is misconfigured: {0}")]
    Config(String),
    /// `RelayState` unknown, expired, or not this browser's.
    #[error(
        "this sign-in answer is stale or was started in another browser; start again from the dashboard"
    )]
    State,
    /// Signature, audience, time, request binding: the answer is not trustworthy.
    #[error("the identity provider's answer was refused: {0}")]
    Refused(String),
    /// The assertion was used before.
    #[error("this sign-in answer was already used (replay refused)")]
    Replayed,
}

/// How long the IdP metadata is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// A failed metadata fetch is answered from memory for 30 s; the last good metadata
/// serves a day while the IdP cannot be reached.
const METADATA_LIFETIMES: crate::identity::refreshing::Lifetimes =
    crate::identity::refreshing::Lifetimes {
        failure: Duration::from_secs(30),
        stale: Duration::from_secs(24 * 3600),
    };

/// The service provider: IdP metadata (loaded on first use) and logins in flight.
pub struct SamlSp {
    config: SamlConfig,
    entity_id: String,
    acs_url: String,
    /// Built from the IdP metadata; refetched hourly (a rotated signing certificate is
    /// picked up, a removed one dropped), one fetch at a time, failures remembered briefly.
    sp: crate::identity::refreshing::Refreshing<ServiceProvider>,
    pending: Mutex<HashMap<String, PendingLogin>>,
}

impl SamlSp {
    /// A service provider at `public_base`.
    pub fn new(config: &SamlConfig, public_base: &str) -> SamlSp {
        SamlSp {
            entity_id: config
                .entity_id
                .clone()
                .unwrap_or_else(|| format!("{public_base}/saml/metadata")),
            acs_url: format!("{public_base}/saml/acs"),
            config: config.clone(),
            sp: crate::identity::refreshing::Refreshing::new(METADATA_LIFETIMES),
            pending: Mutex::new(HashMap::new()),
        }
    }

    async fn idp_metadata(&self) -> Result<String, SamlError> {
        let src = &self.config.idp_metadata;
        if let Some(path) = src.strip_prefix("file:") {
            return std::fs::read_to_string(path)
                .map_err(|e| SamlError::Config(format!("cannot read {path}: {e}")));
        }
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SamlError::Config(e.to_string()))?
            .get(src)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| SamlError::Config(format!("cannot fetch the IdP metadata at {src}: {e}")))?
            .text()
            .await
            .map_err(|e| SamlError::Config(e.to_string()))
    }

    async fn sp(&self) -> Result<std::sync::Arc<ServiceProvider>, SamlError> {
        self.sp
            .get(METADATA_TTL, || async {
                self.build_sp().await.map_err(|e| match e {
                    SamlError::Config(m) => m,
                    other => other.to_string(),
                })
            })
            .await
            .map_err(SamlError::Config)
    }

    /// The service provider from freshly fetched IdP metadata.
    async fn build_sp(&self) -> Result<ServiceProvider, SamlError> {
        let xml = self.idp_metadata().await?;
        let idp: EntityDescriptor = xml
            .parse()
            .map_err(|e| SamlError::Config(format!("the IdP metadata does not parse: {e}")))?;
        let sp = ServiceProviderBuilder::default()
            .entity_id(self.entity_id.clone())
            .acs_url(self.acs_url.clone())
            .metadata_url(self.entity_id.clone())
            .idp_metadata(idp)
            .allowed_signature_algorithms(vec![
                samael::crypto::AllowedSignatureAlgorithm::RsaSha256,
                samael::crypto::AllowedSignatureAlgorithm::RsaSha384,
                samael::crypto::AllowedSignatureAlgorithm::RsaSha512,
                samael::crypto::AllowedSignatureAlgorithm::EcdsaSha256,
            ])
            .build()
            .map_err(|e| SamlError::Config(e.to_string()))?;
        // Without a certificate samael would accept unsigned answers: fail closed.
        match sp.idp_signing_certs() {
            Ok(Some(certs)) if !certs.is_empty() => Ok(sp),
            _ => Err(SamlError::Config(
                "the IdP metadata has no signing certificate; unsigned answers are never accepted"
                    .into(),
            )),
        }
    }

    /// This SP's metadata (entity id, ACS URL) for the IdP's administrator.
    pub async fn metadata_xml(&self) -> Result<String, SamlError> {
        let sp = self.sp().await?;
        let md = sp
            .metadata()
            .map_err(|e| SamlError::Config(e.to_string()))?;
        md.to_string()
            .map_err(|e| SamlError::Config(format!("{e:?}")))
    }

    /// Starts a login: the IdP URL to send the browser to and the `RelayState` to bind to it.
    pub async fn begin(&self, return_to: String) -> Result<(String, String), SamlError> {
        let sp = self.sp().await?;
        let sso = sp
            .sso_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or_else(|| {
                SamlError::Config("the IdP metadata has no HTTP-Redirect sign-in endpoint".into())
            })?;
        let request = sp
            .make_authentication_request(&sso)
            .map_err(|e| SamlError::Config(e.to_string()))?;
        let relay = uuid::Uuid::new_v4().simple().to_string();
        let url = request
            .redirect(&relay)
            .map_err(|e| SamlError::Config(e.to_string()))?
            .ok_or_else(|| SamlError::Config("no redirect URL for the AuthnRequest".into()))?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.started.elapsed() < LOGIN_TTL);
        pending.insert(
            relay.clone(),
            PendingLogin {
                request_id: request.id.clone(),
                return_to,
                started: Instant::now(),
            },
        );
        Ok((url.to_string(), relay))
    }

    /// Checks an answer posted to the ACS; returns the verified assertion's id (for the
    /// replay guard), who signed in, and where they were going.
    pub async fn finish(
        &self,
        saml_response: &str,
        relay_state: &str,
        browser_relay: Option<&str>,
    ) -> Result<(String, Principal, String), SamlError> {
        if browser_relay != Some(relay_state) {
            return Err(SamlError::State);
        }
        let login = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(relay_state)
            .filter(|p| p.started.elapsed() < LOGIN_TTL)
            .ok_or(SamlError::State)?;
        let sp = self.sp().await?;
        let assertion = sp
            .parse_base64_response(saml_response, Some(&[login.request_id.as_str()]))
            .map_err(|e| SamlError::Refused(e.to_string()))?;
        let principal = self.principal(&assertion)?;
        Ok((assertion.id.clone(), principal, login.return_to))
    }

    fn principal(&self, a: &Assertion) -> Result<Principal, SamlError> {
        let values = |name: &str| -> Vec<String> {
            a.attribute_statements
                .iter()
                .flatten()
                .flat_map(|s| &s.attributes)
                .filter(|attr| attr.name.as_deref() == Some(name))
                .flat_map(|attr| &attr.values)
                .filter_map(|v| v.value.clone())
                .collect()
        };
        let user = match &self.config.user_attribute {
            Some(attr) => values(attr).into_iter().next(),
            None => a
                .subject
                .as_ref()
                .and_then(|s| s.name_id.as_ref())
                .map(|n| n.value.clone()),
        }
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| SamlError::Refused("the assertion names nobody".into()))?;
        let groups = values(&self.config.groups_attribute)
            .into_iter()
            .map(|g| self.config.group_map.get(&g).cloned().unwrap_or(g))
            .collect();
        Ok(Principal { user, groups })
    }
}
