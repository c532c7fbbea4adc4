//! The Gatehouse tray app: sign-in for engineers (system browser, PKCE loopback), the MCP
//! servers they may use with one-click client configuration, approvals waiting on them
//! (with desktop notifications), their recent sessions, the local servers admins
//! configured for them (run here when `gatehouse connect NAME` hands a session over, under
//! the pushed policy and masking, local calls waiting for approvers), and the upload of
//! the local capture spool.
//!
//! Everything it does lives in `gatehouse-client`; this crate is the tray, the
//! menu, the small window and the wiring.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod menu;
mod snapshot;

use std::sync::Arc;
use tauri::{Manager, RunEvent, WindowEvent};

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .init();
    let state = Arc::new(app::App::new());
    let built = tauri::Builder::default()
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .manage(state.clone())
        .invoke_handler(tauri::generate_handler![
            app::snapshot,
            app::setup,
            app::sign_in,
            app::sign_out,
            app::add_to_client,
            app::copy_entry,
            app::decide,
            app::request_access,
            app::open_dashboard,
            app::test_notice,
        ])
        .setup(move |handle| {
            menu::install(handle.handle(), app::on_menu)?;
            app::start(handle.handle().clone(), state.clone());
            if std::env::var_os("GATEHOUSE_DESKTOP_SHOW").is_some()
                && let Some(w) = handle.get_webview_window("main")
            {
                let _ = w.show();
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window hides it; the app lives in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(tauri::generate_context!());
    let app = match built {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gatehouse-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|_, event| {
        if let RunEvent::ExitRequested { api, code, .. } = event
            && code.is_none()
        {
            // No window open is no reason to quit a tray app; only "Quit" is.
            api.prevent_exit();
        }
    });
}
