//! Where the sign-in's tokens live: the OS keyring (Secret Service on Linux, Keychain on
//! macOS, Credential Manager on Windows) when there is one, else a file only its owner
//! may read (0600) in the app's folder. Linux desktops without a Secret Service (no
//! D-Bus session, headless boxes) are common, so the fallback is a normal path, not an error.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is kept between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    /// The refresh token (the long-lived secret).
    pub refresh_token: Option<String>,
    /// The current access token, shared with `gatehouse connect` processes so they need
    /// not refresh (refresh tokens rotate: one refresh per expiry, not one per process).
    pub access_token: Option<String>,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
}

/// Which store holds the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring.
    Keyring,
    /// The 0600 file at this path.
    File(PathBuf),
}

/// Whether to try the keyring at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringMode {
    /// Keyring first, the file when the keyring is unavailable.
    Auto,
    /// The file only (`GATEHOUSE_KEYRING=off`).
    Off,
}

impl KeyringMode {
    /// From `GATEHOUSE_KEYRING` (`off` disables it).
    pub fn from_env() -> KeyringMode {
        match std::env::var("GATEHOUSE_KEYRING").as_deref() {
            Ok("off") | Ok("0") | Ok("false") => KeyringMode::Off,
            _ => KeyringMode::Auto,
        }
    }
}

/// A token store could not be used.
#[derive(Debug, thiserror::Error)]
#[error("the sign-in tokens could not be {action}: {reason}")]
pub struct SecretError {
    action: &'static str,
    reason: String,
}

/// The tokens of one account (`account` is usually the issuer + client id).
#[derive(Debug, Clone)]
pub struct TokenStore {
    file: PathBuf,
    account: String,
    mode: KeyringMode,
}

const SERVICE: &str = "dev.gatehouse.desktop";
/// A keyring that does not answer within this long counts as unavailable (a Secret
/// Service that waits for an unlock prompt nobody sees must not hang `gatehouse connect`).
const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);

impl TokenStore {
    /// A store for `account`, with its fallback file in `dir`.
    pub fn new(dir: &Path, account: &str, mode: KeyringMode) -> TokenStore {
        TokenStore {
            file: dir.join("tokens.json"),
            account: account.to_string(),
            mode,
        }
    }

    /// The fallback file's path.
    pub fn file(&self) -> &Path {
        &self.file
    }

    async fn keyring<T: Send + 'static>(
        &self,
        op: impl FnOnce(keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        if self.mode == KeyringMode::Off {
            return Err("the keyring is turned off (GATEHOUSE_KEYRING=off)".into());
        }
        let account = self.account.clone();
        let job = tokio::task::spawn_blocking(move || {
            keyring::Entry::new(SERVICE, &account).and_then(op)
        });
        match tokio::time::timeout(KEYRING_TIMEOUT, job).await {
            Ok(Ok(r)) => r.map_err(|e| e.to_string()),
            Ok(Err(e)) => Err(format!("the keyring call failed: {e}")),
            Err(_) => Err("the keyring did not answer within 3 s".into()),
        }
    }

    /// Saves the tokens; returns where they went.
    pub async fn save(&self, tokens: &StoredTokens) -> Result<Backend, SecretError> {
        let text = serde_json::to_string(tokens).map_err(|e| SecretError {
            action: "saved",
            reason: e.to_string(),
        })?;
        let secret = text.clone();
        match self.keyring(move |e| e.set_password(&secret)).await {
            Ok(()) => {
                // A stale file copy must not outlive a keyring save.
                let _ = std::fs::remove_file(&self.file);
                Ok(Backend::Keyring)
            }
            Err(reason) => {
                if self.mode == KeyringMode::Auto {
                    tracing::info!(%reason, file = %self.file.display(), "no usable keyring; keeping the sign-in in a 0600 file");
                }
                write_private(&self.file, &text).map_err(|e| SecretError {
                    action: "saved",
                    reason: format!("{}: {e}", self.file.display()),
                })?;
                Ok(Backend::File(self.file.clone()))
            }
        }
    }

    /// The saved tokens, if any (keyring first, then the file).
    pub async fn load(&self) -> Result<Option<(StoredTokens, Backend)>, SecretError> {
        if let Ok(text) = self.keyring(|e| e.get_password()).await
            && let Ok(t) = serde_json::from_str(&text)
        {
            return Ok(Some((t, Backend::Keyring)));
        }
        match std::fs::read_to_string(&self.file) {
            Ok(text) => serde_json::from_str(&text)
                .map(|t| Some((t, Backend::File(self.file.clone()))))
                .map_err(|e| SecretError {
                    action: "read",
                    reason: format!(
                        "{} is damaged ({e}); sign in again to replace it",
                        self.file.display()
                    ),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretError {
                action: "read",
                reason: format!("{}: {e}", self.file.display()),
            }),
        }
    }

    /// Forgets the tokens everywhere (sign-out).
    pub async fn clear(&self) {
        let _ = self.keyring(|e| e.delete_credential()).await;
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Writes a file only its owner can read, atomically (temp file + rename).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> StoredTokens {
        StoredTokens {
            refresh_token: Some("rt-secret".into()),
            access_token: Some("at".into()),
            expires_at: 42,
        }
    }

    #[tokio::test]
    async fn without_a_keyring_the_file_is_private_and_cleared_on_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "test-off", KeyringMode::Off);
        assert_eq!(store.load().await.unwrap(), None);
        let backend = store.save(&tokens()).await.unwrap();
        assert_eq!(backend, Backend::File(dir.path().join("tokens.json")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner may read it");
        }
        let (loaded, _) = store.load().await.unwrap().unwrap();
        assert_eq!(loaded, tokens());
        store.clear().await;
        assert!(!store.file().exists());
        assert_eq!(store.load().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_damaged_file_says_to_sign_in_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "test-bad", KeyringMode::Off);
        std::fs::write(store.file(), "{not json").unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("sign in again"), "{err}");
    }

    #[tokio::test]
    async fn auto_mode_round_trips_whichever_store_is_there() {
        // With a Secret Service on the session bus this uses it; without one (no D-Bus,
        // as in CI) it falls back to the file. Either way the tokens come back.
        let dir = tempfile::tempdir().unwrap();
        let account = format!("test-auto-{}", uuid::Uuid::new_v4());
        let store = TokenStore::new(dir.path(), &account, KeyringMode::Auto);
        let backend = store.save(&tokens()).await.unwrap();
        let (loaded, from) = store.load().await.unwrap().unwrap();
        assert_eq!(loaded, tokens());
        assert_eq!(from, backend);
        if backend == Backend::Keyring {
            assert!(
                !store.file().exists(),
                "no plaintext copy beside the keyring"
            );
        }
        store.clear().await;
        assert_eq!(store.load().await.unwrap(), None);
    }
}
