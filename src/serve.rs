//! `inlet serve`: configuration, logging, metrics, the HTTP server, hot reload, graceful shutdown.

use std::time::Duration;

use std::sync::Arc;

use inlet_driver::Registry;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::service::tickets::TicketKey;
use crate::service::{builtin_drivers, Core};
use crate::store::Store;

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

/// The signing key: `ticket_key` (`INLET_TICKET_KEY`, shared by replicas), else the key file
/// (default `<state_dir>/ticket.key`, made on first start).
fn ticket_key(cfg: &ServeConfig) -> Result<TicketKey, String> {
    match &cfg.ticket_key {
        Some(k) => TicketKey::from_base64(k),
        None => TicketKey::load_or_create(&cfg.ticket_key_path()),
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

/// Runs the server with the built-in drivers until SIGTERM/SIGINT.
pub async fn serve(cfg: ServeConfig) -> Result<(), String> {
    serve_with(cfg, builtin_drivers()).await
}

/// Runs the server with `drivers` (the built-in ones plus any a program registers) until
/// SIGTERM/SIGINT; in-flight streams finish, new requests get 503.
pub async fn serve_with(cfg: ServeConfig, drivers: Registry) -> Result<(), String> {
    init_logging(&cfg.log_format);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
        ])
        .map_err(|e| e.to_string())?
        .install_recorder()
        .ok();
    inlet_driver::storage::ensure_tls_provider();
    cfg.check_exposure()?;
    let tickets = ticket_key(&cfg)?;
    for p in &cfg.catalogs {
        if !p.exists() {
            return Err(format!(
                "catalog path `{}` does not exist: pass --catalog PATH or set INLET_CATALOGS",
                p.display()
            ));
        }
    }
    let store = Store::open(cfg.database_url.as_deref(), &cfg.state_dir())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(backend = store.backend(), database = store.location(), auth = ?cfg.auth, "state database ready");
    let listener = tokio::net::TcpListener::bind(cfg.http)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.http))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let core = Arc::new(Core::new(cfg.clone(), Arc::new(drivers), tickets, store));
    core.start();
    let state = AppState::new(core, metrics);
    let snap = state.snapshot();
    tracing::info!(catalogs = snap.service.library.roots().len(), revision = %snap.revision, "catalogs loaded");
    if cfg.reload_interval_secs > 0 {
        let core = state.core.clone();
        let every = Duration::from_secs(cfg.reload_interval_secs);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let s = core.clone();
                // Parsing large catalogs is CPU work: keep it off the request threads' hot path.
                if let Ok(true) = tokio::task::spawn_blocking(move || s.reload_if_changed()).await {
                    core.refresh();
                }
            }
        });
    }
    let flight = match cfg.flight {
        Some(addr) => Some(crate::flight::bind(addr).await?),
        None => None,
    };
    // The lines tests and scripts wait for (the ports may have been chosen by the OS): HTTP
    // first, then Flight when it is on.
    println!("inlet listening on http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let flight_task = match flight {
        Some(listener) => {
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            println!("inlet flight listening on grpc://{local}");
            let locations = if cfg.flight_advertise.is_empty() {
                let host = if local.ip().is_unspecified() {
                    "localhost".to_string()
                } else {
                    local.ip().to_string()
                };
                vec![format!("grpc://{host}:{}", local.port())]
            } else {
                cfg.flight_advertise.clone()
            };
            let core = state.core.clone();
            Some(tokio::spawn(crate::flight::serve(
                core,
                listener,
                locations,
                stopped(stop_rx.clone()),
            )))
        }
        None => None,
    };
    let draining = state.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        draining.start_draining();
        let _ = stop_tx.send(true);
    });
    let app = api::router(state.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop_rx))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(task) = flight_task {
        task.await.map_err(|e| e.to_string())??;
    }
    state.core.usage.flush(&state.core.store).await;
    state.core.store.close().await;
    Ok(())
}
