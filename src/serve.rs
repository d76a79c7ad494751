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

/// Serves `app` on `listener` until `stop`, then waits for open connections (the caller bounds
/// that wait). Request headers must arrive within `header_timeout`, so a client that connects and
/// sends nothing (or a byte a minute) cannot hold a connection.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(app.clone());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The directories answers show paths relative to: each catalog root (a directory served, or
/// the folder of a file served), and each allowed prefix as `[allowed]/`; both as given and
/// with symlinks resolved.
fn shown_roots(cfg: &ServeConfig) -> Vec<(std::path::PathBuf, String)> {
    let forms = |p: &std::path::Path| {
        let mut v = vec![];
        if let Ok(a) = std::path::absolute(p) {
            v.push(a);
        }
        if let Ok(c) = p.canonicalize() {
            v.push(c);
        }
        v
    };
    let mut roots = vec![];
    for c in &cfg.catalogs {
        let dir = if c.is_dir() {
            c.clone()
        } else {
            c.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| std::path::PathBuf::from("."), |p| p.to_path_buf())
        };
        roots.extend(forms(&dir).into_iter().map(|d| (d, String::new())));
    }
    for a in &cfg.allow_paths {
        roots.extend(forms(a).into_iter().map(|d| (d, "[allowed]/".to_string())));
    }
    roots
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
    if !cfg.show_server_paths {
        crate::catalog::redact::show_paths_relative_to(shown_roots(&cfg));
    }
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
    let flight = match flight {
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
            Some((listener, locations))
        }
        None => None,
    };
    let web = crate::web::WebConfig {
        flight: flight.as_ref().and_then(|(_, l)| l.first().cloned()),
    };
    let flight_task = flight.map(|(listener, locations)| {
        let core = state.core.clone();
        tokio::spawn(crate::flight::serve(
            core,
            listener,
            locations,
            stopped(stop_rx.clone()),
        ))
    });
    let draining = state.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        draining.start_draining();
        let _ = stop_tx.send(true);
    });
    let app = api::router_with(state.clone(), crate::web::router(state.clone(), web));
    let header_timeout = Duration::from_secs(cfg.header_timeout_secs.max(1));
    let grace = Duration::from_secs(cfg.shutdown_grace_secs);
    let http = serve_http(listener, app, header_timeout, stopped(stop_rx.clone()));
    let stopping = stopped(stop_rx);
    tokio::pin!(stopping);
    let drained = async {
        http.await;
        if let Some(task) = flight_task {
            let _ = task.await;
        }
    };
    tokio::pin!(drained);
    tokio::select! {
        () = &mut drained => {}
        () = async { stopping.as_mut().await; tokio::time::sleep(grace).await } => {
            let ending = state.admission.active();
            tracing::warn!(streams = ending, grace_secs = grace.as_secs(), "shutdown grace is over: ending the streams still open");
        }
    }
    state.core.usage.flush(&state.core.store).await;
    state.core.store.close().await;
    Ok(())
}
