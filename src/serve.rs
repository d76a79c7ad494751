//! `inlet serve`: configuration, logging, metrics, the HTTP server, hot reload, graceful shutdown.

use std::time::Duration;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::tickets::TicketKey;

fn init_logging(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("INLET_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second init (tests in one process) keeps the first subscriber.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn ticket_key(cfg: &ServeConfig) -> Result<TicketKey, String> {
    use base64::Engine;
    match &cfg.ticket_key {
        Some(k) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k.trim())
            .map(TicketKey::new)
            .map_err(|e| format!("ticket_key is not base64url: {e}")),
        None => TicketKey::load_or_create(&cfg.ticket_key_file)
            .map_err(|e| format!("ticket key file `{}`: {e}", cfg.ticket_key_file.display())),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Runs the server until SIGTERM/SIGINT; in-flight streams finish, new requests get 503.
pub async fn serve(cfg: ServeConfig) -> Result<(), String> {
    init_logging(&cfg.log_format);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
        ])
        .map_err(|e| e.to_string())?
        .install_recorder()
        .ok();
    inlet_driver::storage::ensure_tls_provider();
    let tickets = ticket_key(&cfg)?;
    for p in &cfg.catalogs {
        if !p.exists() {
            return Err(format!(
                "catalog path `{}` does not exist: pass --catalog PATH or set INLET_CATALOGS",
                p.display()
            ));
        }
    }
    let listener = tokio::net::TcpListener::bind(cfg.http)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.http))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = AppState::new(cfg.clone(), tickets, metrics);
    let snap = state.snapshot();
    tracing::info!(catalogs = snap.service.library.roots().len(), revision = %snap.revision, "catalogs loaded");
    if cfg.reload_interval_secs > 0 {
        let st = state.clone();
        let every = Duration::from_secs(cfg.reload_interval_secs);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let s = st.clone();
                // Parsing large catalogs is CPU work: keep it off the request threads' hot path.
                let _ = tokio::task::spawn_blocking(move || s.reload_if_changed()).await;
            }
        });
    }
    // The line tests and scripts wait for (the port may have been chosen by the OS).
    println!("inlet listening on http://{addr}");
    let app = api::router(state.clone());
    let draining = state.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            draining.start_draining();
        })
        .await
        .map_err(|e| e.to_string())
}
