//! Writing one `gatehouse connect SERVER` stdio entry into an MCP client's config file:
//! Claude Desktop (`claude_desktop_config.json`, `mcpServers`), Cursor (`~/.cursor/mcp.json`,
//! `mcpServers`) and VS Code (`mcp.json` `servers`, or `settings.json` `mcp.servers`).
//!
//! The entry carries no secret (the token comes from the tray's sign-in at run time).
//! Every other key, and in VS Code's JSONC also comments and trailing commas, stay as they
//! were; the file is copied to a backup first and replaced atomically; a file that does not
//! parse is refused and left untouched.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstRootNode};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An MCP client whose config we can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    /// Claude Desktop.
    Claude,
    /// Cursor.
    Cursor,
    /// Visual Studio Code.
    VsCode,
}

impl Client {
    /// All clients, in menu order.
    pub const ALL: [Client; 3] = [Client::Claude, Client::Cursor, Client::VsCode];

    /// The name people know.
    pub fn label(self) -> &'static str {
        match self {
            Client::Claude => "Claude Desktop",
            Client::Cursor => "Cursor",
            Client::VsCode => "VS Code",
        }
    }

    /// Parses `claude`, `cursor`, `vscode`.
    pub fn parse(name: &str) -> Option<Client> {
        match name.to_ascii_lowercase().as_str() {
            "claude" => Some(Client::Claude),
            "cursor" => Some(Client::Cursor),
            "vscode" | "code" => Some(Client::VsCode),
            _ => None,
        }
    }

    /// The user-level config file this client reads.
    pub fn default_path(self) -> PathBuf {
        match self {
            Client::Claude => crate::paths::config_dir()
                .join("Claude")
                .join("claude_desktop_config.json"),
            Client::Cursor => crate::paths::user_home().join(".cursor").join("mcp.json"),
            Client::VsCode => crate::paths::config_dir()
                .join("Code")
                .join("User")
                .join("mcp.json"),
        }
    }

    /// Whether its files may hold comments (VS Code's are JSONC; the others plain JSON).
    fn allows_comments(self) -> bool {
        self == Client::VsCode
    }
}

/// The entry to write: how to start `gatehouse connect SERVER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The server name (as in `/mcp/{server}`).
    pub server: String,
    /// The `gatehouse` program (absolute path, so clients started from a dock find it).
    pub program: String,
    /// The gateway's base URL (`GATEHOUSE_URL`); not a secret.
    pub gateway_url: String,
}

impl Entry {
    /// The key the entry lives under: `gatehouse-SERVER`, so it never overwrites an entry
    /// the person made themselves.
    pub fn key(&self) -> String {
        format!("gatehouse-{}", self.server)
    }

    /// The entry in the client's shape.
    pub fn value(&self, client: Client) -> Value {
        let mut v = json!({
            "command": self.program,
            "args": ["connect", self.server],
            "env": { "GATEHOUSE_URL": self.gateway_url },
        });
        if client == Client::VsCode {
            v["type"] = json!("stdio");
        }
        v
    }

    /// The text "copy entry" puts on the clipboard: `"gatehouse-SERVER": {...}`, ready to
    /// paste into the client's server list.
    pub fn snippet(&self, client: Client) -> String {
        let body = serde_json::to_string_pretty(&self.value(client)).unwrap_or_default();
        format!("\"{}\": {}", self.key(), body)
    }
}

/// Why a config was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file exists but is not valid JSON (or JSONC for VS Code): nothing was changed.
    #[error(
        "{path} is not valid {format} ({detail}); it was left unchanged: fix it (or move it away) and try again"
    )]
    Unparsable {
        /// The file.
        path: PathBuf,
        /// `JSON` or `JSONC`.
        format: &'static str,
        /// Where and what.
        detail: String,
    },
    /// The file's top level, or the server list in it, is not an object.
    #[error("{path}: `{what}` is not a JSON object; it was left unchanged: fix it and try again")]
    Shape {
        /// The file.
        path: PathBuf,
        /// Which part.
        what: String,
    },
    /// Reading, backing up or writing failed.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The config file.
    pub path: PathBuf,
    /// The copy of the previous file, when there was one.
    pub backup: Option<PathBuf>,
    /// True when an entry under the same key was replaced.
    pub replaced: bool,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> WriteError {
    WriteError::Io {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

/// Adds or replaces `entry` in `client`'s config at `path` (created when missing).
pub fn write_entry(client: Client, path: &Path, entry: &Entry) -> Result<Written, WriteError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path, "cannot read it", e)),
    };
    let (text, replaced) = edit(client, path, existing.as_deref().unwrap_or(""), entry)?;
    let backup = match &existing {
        Some(old) => Some(backup(path, old)?),
        None => None,
    };
    write_atomically(path, &text)?;
    Ok(Written {
        path: path.to_path_buf(),
        backup,
        replaced,
    })
}

/// The new text of a config: `text` with the entry added or replaced.
pub fn edit(
    client: Client,
    path: &Path,
    text: &str,
    entry: &Entry,
) -> Result<(String, bool), WriteError> {
    let options = parse_options(client.allows_comments());
    let source = if text.trim().is_empty() { "{}\n" } else { text };
    let unparsable = |detail: String| WriteError::Unparsable {
        path: path.to_path_buf(),
        format: if client.allows_comments() {
            "JSONC"
        } else {
            "JSON"
        },
        detail,
    };
    // Validate strictly first (the CST parser is lenient about some syntax).
    if client.allows_comments() {
        jsonc_parser::parse_to_serde_value::<Value>(source, &options)
            .map_err(|e| unparsable(e.to_string()))?;
    } else {
        serde_json::from_str::<Value>(source).map_err(|e| unparsable(e.to_string()))?;
    }
    let root = CstRootNode::parse(source, &options).map_err(|e| unparsable(e.to_string()))?;
    let shape = |what: &str| WriteError::Shape {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let top = root
        .object_value_or_create()
        .ok_or_else(|| shape("(top level)"))?;
    let is_settings = path
        .file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("settings.json"));
    let (list_name, container) = match (client, is_settings) {
        (Client::VsCode, true) => (
            "mcp.servers",
            top.object_value_or_create("mcp")
                .ok_or_else(|| shape("mcp"))?,
        ),
        _ => ("", top.clone()),
    };
    let key = match client {
        Client::VsCode => "servers",
        _ => "mcpServers",
    };
    let list_name = if list_name.is_empty() { key } else { list_name };
    let servers = container
        .object_value_or_create(key)
        .ok_or_else(|| shape(list_name))?;
    let value = to_cst(&entry.value(client));
    let replaced = match servers.get(&entry.key()) {
        Some(prop) => {
            prop.set_value(value);
            true
        }
        None => {
            servers.append(&entry.key(), value);
            false
        }
    };
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok((out, replaced))
}

fn parse_options(comments: bool) -> ParseOptions {
    ParseOptions {
        allow_comments: comments,
        allow_loose_object_property_names: false,
        allow_trailing_commas: comments,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

fn to_cst(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(to_cst).collect()),
        Value::Object(o) => {
            CstInputValue::Object(o.iter().map(|(k, v)| (k.clone(), to_cst(v))).collect())
        }
    }
}

/// Copies the current text next to the file (`NAME.gatehouse-backup-YYYYmmddTHHMMSS`).
fn backup(path: &Path, old: &str) -> Result<PathBuf, WriteError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
    let b = path.with_file_name(format!("{name}.gatehouse-backup-{stamp}"));
    write_file(&b, old).map_err(|e| io_err(&b, "cannot write the backup", e))?;
    Ok(b)
}

/// Writes next to the target, flushes, then renames over it, so a crash leaves either
/// the old or the new file, never half of one.
fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "cannot create the folder", e))?;
    }
    let tmp = path.with_extension("gatehouse-tmp");
    write_file(&tmp, text).map_err(|e| io_err(&tmp, "cannot write", e))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, "cannot replace it", e))
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            server: "postgres".into(),
            program: "/usr/local/bin/gatehouse".into(),
            gateway_url: "https://gatehouse.example".into(),
        }
    }

    fn parsed(text: &str) -> Value {
        jsonc_parser::parse_to_serde_value(text, &ParseOptions::default()).unwrap()
    }

    #[test]
    fn claude_keeps_every_other_key_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claude_desktop_config.json");
        let before = r#"{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "mine": { "command": "npx", "args": ["-y", "thing"], "env": { "KEY": "keep-me" } }
  }
}
"#;
        std::fs::write(&path, before).unwrap();
        let w = write_entry(Client::Claude, &path, &entry()).unwrap();
        assert!(!w.replaced);
        let after = parsed(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(after["globalShortcut"], "Ctrl+Space");
        assert_eq!(after["mcpServers"]["mine"]["env"]["KEY"], "keep-me");
        let e = &after["mcpServers"]["gatehouse-postgres"];
        assert_eq!(e["command"], "/usr/local/bin/gatehouse");
        assert_eq!(e["args"], json!(["connect", "postgres"]));
        assert_eq!(
            e["env"],
            json!({"GATEHOUSE_URL": "https://gatehouse.example"})
        );
        assert!(
            !std::fs::read_to_string(&path).unwrap().contains("TOKEN"),
            "no secret in the file"
        );
        let backup = w.backup.expect("a backup of the previous file");
        assert_eq!(std::fs::read_to_string(backup).unwrap(), before);
    }

    #[test]
    fn writing_twice_replaces_the_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".cursor").join("mcp.json");
        let first = write_entry(Client::Cursor, &path, &entry()).unwrap();
        assert!(first.backup.is_none() && !first.replaced, "created fresh");
        let mut moved = entry();
        moved.gateway_url = "https://other.example".into();
        let second = write_entry(Client::Cursor, &path, &moved).unwrap();
        assert!(second.replaced);
        let after = parsed(&std::fs::read_to_string(&path).unwrap());
        let servers = after["mcpServers"].as_object().unwrap();
        assert_eq!(servers.len(), 1);
        assert_eq!(
            servers["gatehouse-postgres"]["env"]["GATEHOUSE_URL"],
            "https://other.example"
        );
    }

    #[test]
    fn vscode_keeps_comments_and_uses_the_servers_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp.json");
        let before = "// my servers\n{\n  \"servers\": {\n    // the wiki\n    \"wiki\": { \"type\": \"http\", \"url\": \"https://wiki\" },\n  },\n  \"inputs\": [],\n}\n";
        std::fs::write(&path, before).unwrap();
        write_entry(Client::VsCode, &path, &entry()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("// my servers") && text.contains("// the wiki"),
            "{text}"
        );
        let after = parsed(&text);
        assert_eq!(after["servers"]["wiki"]["url"], "https://wiki");
        assert_eq!(after["inputs"], json!([]));
        assert_eq!(after["servers"]["gatehouse-postgres"]["type"], "stdio");
        assert!(after.get("mcpServers").is_none());
    }

    #[test]
    fn vscode_settings_nest_under_mcp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{\n  // font\n  \"editor.fontSize\": 14\n}\n").unwrap();
        write_entry(Client::VsCode, &path, &entry()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("// font"));
        let after = parsed(&text);
        assert_eq!(after["editor.fontSize"], 14);
        assert_eq!(
            after["mcp"]["servers"]["gatehouse-postgres"]["args"],
            json!(["connect", "postgres"])
        );
    }

    #[test]
    fn a_broken_file_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        for (client, text) in [
            (Client::Claude, "{ \"mcpServers\": { \"a\": 1, } }"),
            (Client::Cursor, "{ \"mcpServers\": "),
            (Client::Claude, "// comment\n{}"),
            (Client::VsCode, "{ \"servers\": [1, 2] }"),
        ] {
            let path = dir.path().join("config.json");
            std::fs::write(&path, text).unwrap();
            let err = write_entry(client, &path, &entry()).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("left unchanged") && msg.contains("config.json"),
                "{msg}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
            let others = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(others, 1, "no backup or temp file for a refused write");
        }
    }

    #[test]
    fn snippet_is_pasteable() {
        let s = entry().snippet(Client::Claude);
        let v = parsed(&format!("{{{s}}}"));
        assert_eq!(v["gatehouse-postgres"]["args"][1], "postgres");
    }
}
