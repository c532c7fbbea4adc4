//! The tray icon and its menu, rebuilt from the snapshot whenever something changes:
//! the icon says signed out / signed in / approval waiting / offline. A click becomes an
//! [`Action`] handed to the function [`install`] was given: the menu does nothing itself,
//! so it needs nothing of the app but the snapshot.

use crate::snapshot::Snapshot;
use gatehouse_client::clients::Client;
use gatehouse_client::signin::State as SignIn;
use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Wry};

const TRAY: &str = "gatehouse";

/// Which icon the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    SignedOut,
    SignedIn,
    Approval,
    Offline,
}

/// The look for a snapshot: offline beats approvals beats signed in.
pub fn look(s: &Snapshot) -> Look {
    match &s.signin {
        Some(SignIn::Offline { .. }) => Look::Offline,
        _ if s.offline && s.user.is_some() => Look::Offline,
        Some(SignIn::SignedIn { .. } | SignIn::Refreshing { .. }) if !s.approvals.is_empty() => {
            Look::Approval
        }
        Some(SignIn::SignedIn { .. } | SignIn::Refreshing { .. }) => Look::SignedIn,
        _ => Look::SignedOut,
    }
}

fn icon(l: Look) -> Image<'static> {
    let bytes: &'static [u8] = match l {
        Look::SignedOut => include_bytes!("../icons/signed_out.png"),
        Look::SignedIn => include_bytes!("../icons/signed_in.png"),
        Look::Approval => include_bytes!("../icons/approval.png"),
        Look::Offline => include_bytes!("../icons/offline.png"),
    };
    Image::from_bytes(bytes).unwrap_or_else(|_| Image::new(&[0, 0, 0, 0], 1, 1))
}

/// What a person chose in the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Sign in (system browser).
    SignIn,
    /// Sign out.
    SignOut,
    /// Show the window, at one approval when given.
    ShowWindow { approval: Option<String> },
    /// Open the dashboard at `path` in the browser.
    OpenDashboard { path: String },
    /// Add `server` to `client`'s configuration.
    AddToClient { client: Client, server: String },
    /// Copy `client`'s entry for `server` to the clipboard.
    CopyEntry { client: Client, server: String },
    /// Quit the app.
    Quit,
}

impl Action {
    /// The action of a menu item, by the id [`build`] gave it.
    fn of_item(id: &str) -> Option<Action> {
        Some(match id {
            "signin" => Action::SignIn,
            "signout" => Action::SignOut,
            "open" => Action::ShowWindow { approval: None },
            "dashboard" => Action::OpenDashboard { path: "/".into() },
            "quit" => Action::Quit,
            other => {
                let mut parts = other.splitn(3, ':');
                match (parts.next()?, parts.next()?, parts.next()) {
                    ("add", c, Some(server)) => Action::AddToClient {
                        client: Client::parse(c)?,
                        server: server.into(),
                    },
                    ("copy", c, Some(server)) => Action::CopyEntry {
                        client: Client::parse(c)?,
                        server: server.into(),
                    },
                    ("approval", id, None) => Action::ShowWindow {
                        approval: Some(id.into()),
                    },
                    ("session", id, None) => Action::OpenDashboard {
                        path: format!("/sessions/{id}"),
                    },
                    _ => return None,
                }
            }
        })
    }
}

/// Creates the tray icon; `act` does what a click in its menu asks.
pub fn install(handle: &AppHandle, act: fn(&AppHandle, Action)) -> tauri::Result<()> {
    let snap = Snapshot::default();
    TrayIconBuilder::with_id(TRAY)
        .icon(icon(Look::SignedOut))
        .tooltip("Gatehouse: signed out")
        .menu(&build(handle, &snap)?)
        .show_menu_on_left_click(true)
        .on_menu_event(move |h, e: MenuEvent| {
            if let Some(action) = Action::of_item(e.id().as_ref()) {
                act(h, action)
            }
        })
        .build(handle)?;
    Ok(())
}

/// Re-renders the tray from a snapshot.
pub fn refresh(handle: &AppHandle, snap: &Snapshot) {
    let Some(tray) = handle.tray_by_id(TRAY) else {
        return;
    };
    let l = look(snap);
    let _ = tray.set_icon(Some(icon(l)));
    let _ = tray.set_tooltip(Some(status_line(snap)));
    match build(handle, snap) {
        Ok(m) => {
            let _ = tray.set_menu(Some(m));
        }
        Err(e) => tracing::warn!(error = %e, "cannot build the tray menu"),
    }
}

fn status_line(s: &Snapshot) -> String {
    let who = s
        .user
        .clone()
        .or_else(|| s.signin.as_ref().and_then(|x| x.user().map(String::from)));
    match (look(s), who) {
        (Look::Offline, Some(u)) => format!("Gatehouse: {u}, offline"),
        (Look::Approval, Some(u)) => format!(
            "Gatehouse: {u}, {} approval{} waiting",
            s.approvals.len(),
            if s.approvals.len() == 1 { "" } else { "s" }
        ),
        (Look::SignedIn, Some(u)) => format!("Gatehouse: signed in as {u}"),
        _ if !s.configured => "Gatehouse: not set up".into(),
        _ => "Gatehouse: signed out".into(),
    }
}

fn item(h: &AppHandle, id: &str, text: &str, enabled: bool) -> tauri::Result<MenuItem<Wry>> {
    MenuItem::with_id(h, id, text, enabled, None::<&str>)
}

fn build(h: &AppHandle, s: &Snapshot) -> tauri::Result<Menu<Wry>> {
    let mut owned: Vec<Box<dyn IsMenuItem<Wry>>> = Vec::new();
    owned.push(Box::new(item(h, "status", &status_line(s), false)?));
    let signed_in = s.signin.as_ref().and_then(|x| x.user()).is_some();
    if signed_in {
        owned.push(Box::new(item(h, "signout", "Sign out", true)?));
    } else {
        owned.push(Box::new(item(h, "signin", "Sign in…", s.configured)?));
    }
    owned.push(Box::new(PredefinedMenuItem::separator(h)?));

    // Servers this person may use (gateway, then local), each with the client actions.
    for (title, list) in [("Servers", &s.servers), ("Local servers", &s.local_servers)] {
        let servers = server_menus(h, list)?;
        let server_refs: Vec<&dyn IsMenuItem<Wry>> =
            servers.iter().map(|a| a as &dyn IsMenuItem<Wry>).collect();
        owned.push(Box::new(Submenu::with_items(
            h,
            format!("{title} ({})", list.len()),
            signed_in && !list.is_empty(),
            &server_refs,
        )?));
    }

    // Pending approvals: clicking one opens the window to approve or deny with a reason.
    let mut approvals: Vec<MenuItem<Wry>> = Vec::new();
    for a in &s.approvals {
        let Some(id) = a["id"].as_str() else { continue };
        let text = format!(
            "{} · {} on {}",
            a["requester"].as_str().unwrap_or("?"),
            a["tool"]
                .as_str()
                .or(a["method"].as_str())
                .unwrap_or("call"),
            a["server"].as_str().unwrap_or("?")
        );
        approvals.push(item(h, &format!("approval:{id}"), &text, true)?);
    }
    let approval_refs: Vec<&dyn IsMenuItem<Wry>> = approvals
        .iter()
        .map(|a| a as &dyn IsMenuItem<Wry>)
        .collect();
    owned.push(Box::new(Submenu::with_items(
        h,
        format!("Approvals waiting ({})", s.approvals.len()),
        !s.approvals.is_empty(),
        &approval_refs,
    )?));

    let mut sessions: Vec<MenuItem<Wry>> = Vec::new();
    for x in s.sessions.iter().take(8) {
        let Some(id) = x["id"].as_str() else { continue };
        let text = format!(
            "{} · {}",
            x["server"].as_str().unwrap_or("?"),
            x["started_at"]
                .as_str()
                .unwrap_or("")
                .get(..16)
                .unwrap_or("")
        );
        sessions.push(item(h, &format!("session:{id}"), &text, true)?);
    }
    let session_refs: Vec<&dyn IsMenuItem<Wry>> =
        sessions.iter().map(|a| a as &dyn IsMenuItem<Wry>).collect();
    owned.push(Box::new(Submenu::with_items(
        h,
        "Recent sessions",
        !s.sessions.is_empty(),
        &session_refs,
    )?));
    owned.push(Box::new(PredefinedMenuItem::separator(h)?));
    owned.push(Box::new(item(h, "open", "Open Gatehouse…", true)?));
    owned.push(Box::new(item(
        h,
        "dashboard",
        "Open dashboard",
        s.configured,
    )?));
    owned.push(Box::new(item(h, "quit", "Quit", true)?));
    let refs: Vec<&dyn IsMenuItem<Wry>> = owned.iter().map(|b| b.as_ref()).collect();
    Menu::with_items(h, &refs)
}

/// One submenu per server: add to each client, copy each client's entry.
fn server_menus(h: &AppHandle, list: &[serde_json::Value]) -> tauri::Result<Vec<Submenu<Wry>>> {
    let mut servers = Vec::new();
    for srv in list {
        let Some(name) = srv["name"].as_str() else {
            continue;
        };
        let mut actions: Vec<MenuItem<Wry>> = Vec::new();
        for c in Client::ALL {
            let key = client_key(c);
            actions.push(item(
                h,
                &format!("add:{key}:{name}"),
                &format!("Add to {}", c.label()),
                true,
            )?);
        }
        for c in Client::ALL {
            let key = client_key(c);
            actions.push(item(
                h,
                &format!("copy:{key}:{name}"),
                &format!("Copy entry for {}", c.label()),
                true,
            )?);
        }
        let refs: Vec<&dyn IsMenuItem<Wry>> =
            actions.iter().map(|a| a as &dyn IsMenuItem<Wry>).collect();
        servers.push(Submenu::with_items(h, name, true, &refs)?);
    }
    Ok(servers)
}

fn client_key(c: Client) -> &'static str {
    match c {
        Client::Claude => "claude",
        Client::Cursor => "cursor",
        Client::VsCode => "vscode",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_items_become_actions() {
        let server = |s: &str| s.to_string();
        assert_eq!(Action::of_item("signin"), Some(Action::SignIn));
        assert_eq!(
            Action::of_item("add:cursor:db"),
            Some(Action::AddToClient {
                client: Client::Cursor,
                server: server("db")
            })
        );
        assert_eq!(
            Action::of_item("copy:vscode:a:b"),
            Some(Action::CopyEntry {
                client: Client::VsCode,
                server: server("a:b")
            })
        );
        assert_eq!(
            Action::of_item("approval:ap1"),
            Some(Action::ShowWindow {
                approval: Some("ap1".into())
            })
        );
        assert_eq!(
            Action::of_item("session:s1"),
            Some(Action::OpenDashboard {
                path: "/sessions/s1".into()
            })
        );
        for unknown in ["status", "add:nope:db", "add:cursor", "approval:a:b"] {
            assert_eq!(Action::of_item(unknown), None, "{unknown}");
        }
    }
}
