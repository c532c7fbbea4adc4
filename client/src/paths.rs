//! Where the tray app and `gatehouse connect` keep their files (one folder, shared by both
//! so that signing in once in the tray is enough for every client).

use std::path::PathBuf;

/// The folder: `$GATEHOUSE_DESKTOP_HOME`, else `$XDG_DATA_HOME/gatehouse`, else
/// `~/.local/share/gatehouse` (macOS: `~/Library/Application Support/Gatehouse`).
pub fn home() -> PathBuf {
    if let Some(p) = std::env::var_os("GATEHOUSE_DESKTOP_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("gatehouse");
    }
    let user_home = user_home();
    if cfg!(target_os = "macos") {
        user_home.join("Library/Application Support/Gatehouse")
    } else {
        user_home.join(".local/share/gatehouse")
    }
}

/// The person's home folder (`$HOME`, `%USERPROFILE%`).
pub fn user_home() -> PathBuf {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The user-level config folder (`$XDG_CONFIG_HOME`, `~/.config`; macOS
/// `~/Library/Application Support`; Windows `%APPDATA%`).
pub fn config_dir() -> PathBuf {
    if cfg!(target_os = "macos") {
        return user_home().join("Library/Application Support");
    }
    if cfg!(windows)
        && let Some(p) = std::env::var_os("APPDATA")
    {
        return PathBuf::from(p);
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| user_home().join(".config"))
}
