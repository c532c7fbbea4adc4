//! The local servers an admin configured for this person's groups (`[[local_servers]]`
//! on the control plane): what to start, with which masking profile, under which policy.
//! Fetched from `GET /api/v1/local-servers` and cached (0600) so they keep running under
//! the same rules offline. With neither the control plane nor a cache, nothing runs: a
//! local server never runs without its centrally pushed rules (fail closed).

use crate::api::{ApiError, ControlPlane, PolicyVersion};
use gatehouse_mask::{Masker, Profile, Strategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cache file in the app's folder.
pub const CACHE_FILE: &str = "local_servers.json";

/// How long a fetched list tells `gatehouse connect NAME` that NAME is *not* a local
/// server (so it relays to the gateway) without asking the control plane again. Only that
/// negative answer is taken from the cache: a local server always starts under a list
/// fetched now when the control plane answers.
pub const FRESH_FOR: Duration = Duration::from_secs(300);

/// One local server as the control plane describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalServer {
    /// `gatehouse connect NAME`; `local:NAME` in policies and the audit log.
    pub name: String,
    /// One line for the menu.
    #[serde(default)]
    pub description: Option<String>,
    /// The program to start.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment, `env:NAME` / `file:PATH` references unresolved.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The masking profile's name.
    pub masking_profile: String,
    /// Its definition.
    pub masking: Profile,
}

/// Everything a laptop needs to run its local servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Who the control plane says this is.
    pub user: String,
    /// Their groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The servers they may run.
    pub servers: Vec<LocalServer>,
    /// The policy in force (none: the control plane has none).
    #[serde(default)]
    pub policy: Option<PolicyVersion>,
    /// When it was fetched (RFC 3339).
    #[serde(default)]
    pub fetched_at: String,
    /// The control plane it was fetched from.
    #[serde(default)]
    pub source: String,
}

/// Where a catalog came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Just fetched.
    Online,
    /// The cache, because the control plane could not be asked (why).
    Cached(String),
}

/// Why no local server can run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// No control plane and no cache.
    #[error(
        "Gatehouse cannot run local servers right now: {0}, and no list of local servers is cached on this computer. \
         A local server only runs under the rules your organisation pushes, so nothing was started. \
         Connect once while the control plane is reachable (sign in with the tray app or `gatehouse login`)."
    )]
    FailClosed(String),
    /// The control plane refused (signed out, or not allowed).
    #[error("the control plane refused the list of local servers: {0}")]
    Refused(String),
    /// The answer does not parse.
    #[error("the control plane's list of local servers is not understood: {0}")]
    Malformed(String),
}

impl Catalog {
    /// Parses the control plane's answer.
    pub fn from_api(v: serde_json::Value) -> Result<Catalog, CatalogError> {
        let mut c: Catalog =
            serde_json::from_value(v).map_err(|e| CatalogError::Malformed(e.to_string()))?;
        c.fetched_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Ok(c)
    }

    /// The cached catalog in `dir`, if any.
    pub fn cached(dir: &Path) -> Option<Catalog> {
        let text = std::fs::read_to_string(cache_path(dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The cached catalog in `dir` when it was fetched from `source` less than `max_age`
    /// ago (a clock turned back makes it stale, never fresher).
    pub fn recent(dir: &Path, source: &str, max_age: Duration) -> Option<Catalog> {
        let c = Catalog::cached(dir).filter(|c| c.source == source.trim_end_matches('/'))?;
        let fetched = chrono::DateTime::parse_from_rfc3339(&c.fetched_at).ok()?;
        let age = chrono::Utc::now().signed_duration_since(fetched);
        let max = chrono::Duration::from_std(max_age).ok()?;
        (age >= chrono::Duration::zero() && age < max).then_some(c)
    }

    /// Caches it in `dir` (readable only by this user).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::secrets::write_private(&cache_path(dir), &text)
    }

    /// Forgets the cache (at sign-out).
    pub fn forget(dir: &Path) {
        let _ = std::fs::remove_file(cache_path(dir));
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Option<&LocalServer> {
        self.servers.iter().find(|s| s.name == name)
    }
}

fn cache_path(dir: &Path) -> PathBuf {
    dir.join(CACHE_FILE)
}

/// True when a list fetched from `api` within [`FRESH_FOR`] does not name `name`: a
/// gateway server, to relay without asking for the list again.
pub fn known_not_local(api: &ControlPlane, dir: &Path, name: &str) -> bool {
    Catalog::recent(dir, api.base(), FRESH_FOR).is_some_and(|c| c.server(name).is_none())
}

/// The catalog now: fetched when the control plane answers (and cached), else the cache.
/// A refusal (signed out, not allowed) never falls back to the cache.
pub async fn resolve(
    api: &ControlPlane,
    token: Option<String>,
    dir: &Path,
) -> Result<(Catalog, Freshness), CatalogError> {
    let why = match token {
        None => "you are not signed in (or your sign-in cannot be renewed offline)".to_string(),
        Some(t) => match api.local_servers(&t).await {
            Ok(v) => {
                let mut c = Catalog::from_api(v)?;
                c.source = api.base().to_string();
                // Kept even when empty: it spares `connect` a request per gateway relay.
                if let Err(e) = c.save(dir) {
                    tracing::warn!(error = %e, "could not cache the local servers");
                }
                return Ok((c, Freshness::Online));
            }
            Err(ApiError::Refused(r)) => return Err(CatalogError::Refused(r)),
            Err(e @ ApiError::Unreachable(_)) => e.to_string(),
        },
    };
    // Nothing to run offline is the same as no cache.
    match Catalog::cached(dir).filter(|c| !c.servers.is_empty()) {
        Some(c) => Ok((c, Freshness::Cached(why))),
        None => Err(CatalogError::FailClosed(why)),
    }
}

impl LocalServer {
    /// The masker for its answers and records. The `hmac` strategy's key stays on the
    /// control plane, so values it would turn into tokens are redacted here instead
    /// (more is hidden, never less).
    pub fn masker(&self) -> Result<Masker, String> {
        let mut p = self.masking.clone();
        let redact = |s: &mut Strategy| {
            if *s == Strategy::Hmac {
                *s = Strategy::Redact;
            }
        };
        redact(&mut p.default_strategy);
        p.strategy.values_mut().for_each(redact);
        for c in &mut p.custom {
            if let Some(s) = c.strategy.as_mut() {
                redact(s);
            }
        }
        Masker::new(&p, None)
            .map_err(|e| format!("masking profile `{}`: {e}", self.masking_profile))
    }

    /// Its environment with `env:NAME` and `file:PATH` references resolved here, from
    /// this person's environment and files.
    pub fn resolved_env(&self) -> Result<BTreeMap<String, String>, String> {
        self.env
            .iter()
            .map(|(k, v)| {
                let value = if let Some(name) = v.strip_prefix("env:") {
                    std::env::var(name).map_err(|_| {
                        format!(
                            "local server `{}` needs the environment variable `{name}` (for {k}); set it and try again",
                            self.name
                        )
                    })?
                } else if let Some(path) = v.strip_prefix("file:") {
                    std::fs::read_to_string(path)
                        .map(|s| s.trim_end().to_string())
                        .map_err(|e| {
                            format!(
                                "local server `{}` needs the file `{path}` (for {k}): {e}",
                                self.name
                            )
                        })?
                } else {
                    v.clone()
                };
                Ok((k.clone(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(profile: Profile, env: &[(&str, &str)]) -> LocalServer {
        LocalServer {
            name: "files".into(),
            description: None,
            command: "srv".into(),
            args: vec![],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            masking_profile: "p".into(),
            masking: profile,
        }
    }

    #[test]
    fn hmac_becomes_redaction_without_the_central_key() {
        let mut p = Profile::default();
        p.strategy.insert("email".into(), Strategy::Hmac);
        assert!(
            Masker::new(&p, None).is_err(),
            "as configured it needs the key"
        );
        let m = server(p, &[]).masker().unwrap();
        let mut v = serde_json::json!({"text": "mail ada@example.com"});
        m.mask_json(&mut v);
        assert!(!v.to_string().contains("ada@example.com"), "{v}");
        assert!(!v.to_string().contains("hmac"), "{v}");
    }

    #[test]
    fn env_references_resolve_here_or_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s3cret\n").unwrap();
        let file_ref = format!("file:{}", f.display());
        let s = server(
            Profile::default(),
            &[("A", "plain"), ("B", &file_ref), ("C", "env:PATH")],
        );
        let env = s.resolved_env().unwrap();
        assert_eq!(env["A"], "plain");
        assert_eq!(env["B"], "s3cret");
        assert_eq!(env["C"], std::env::var("PATH").unwrap());
        let e = server(
            Profile::default(),
            &[("X", "env:GATEHOUSE_TEST_SURELY_UNSET")],
        )
        .resolved_env()
        .unwrap_err();
        assert!(e.contains("GATEHOUSE_TEST_SURELY_UNSET"), "{e}");
    }

    #[tokio::test]
    async fn no_control_plane_and_no_cache_fails_closed_a_cache_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let api = ControlPlane::new("http://127.0.0.1:9");
        let e = resolve(&api, Some("t".into()), dir.path())
            .await
            .unwrap_err();
        assert!(matches!(e, CatalogError::FailClosed(_)), "{e}");
        assert!(e.to_string().contains("nothing was started"), "{e}");
        let c = Catalog {
            user: "ada".into(),
            groups: vec!["eng".into()],
            servers: vec![server(Profile::default(), &[])],
            policy: None,
            fetched_at: String::new(),
            source: String::new(),
        };
        c.save(dir.path()).unwrap();
        let (got, fresh) = resolve(&api, None, dir.path()).await.unwrap();
        assert_eq!(got, c);
        assert!(matches!(fresh, Freshness::Cached(_)));
        Catalog::forget(dir.path());
        assert!(resolve(&api, None, dir.path()).await.is_err());
    }

    #[test]
    fn only_a_recent_list_from_the_same_control_plane_answers_not_local() {
        let dir = tempfile::tempdir().unwrap();
        let api = ControlPlane::new("https://gatehouse.example/");
        let at = |age: i64| {
            (chrono::Utc::now() - chrono::Duration::seconds(age))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let mut c = Catalog {
            user: "ada".into(),
            groups: vec![],
            servers: vec![server(Profile::default(), &[])],
            policy: None,
            fetched_at: at(10),
            source: "https://gatehouse.example".into(),
        };
        assert!(!known_not_local(&api, dir.path(), "everything"), "no cache");
        c.save(dir.path()).unwrap();
        assert!(known_not_local(&api, dir.path(), "everything"));
        assert!(
            !known_not_local(&api, dir.path(), "files"),
            "a local server"
        );
        let other = ControlPlane::new("https://other.example");
        assert!(!known_not_local(&other, dir.path(), "everything"));
        c.fetched_at = at(FRESH_FOR.as_secs() as i64 + 1);
        c.save(dir.path()).unwrap();
        assert!(!known_not_local(&api, dir.path(), "everything"), "stale");
        c.fetched_at = at(-3600);
        c.save(dir.path()).unwrap();
        assert!(
            !known_not_local(&api, dir.path(), "everything"),
            "from the future"
        );
    }
}
