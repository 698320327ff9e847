//! Wiring: builds every stage from the settings and runs them until a signal.
//! `Application::build` binds the listener first, so tests use port 0.

use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::control::{Control, WorkerSet};
use crate::dispatch::{self, Wakers};
use crate::ingest::handler::{debugger, event_streams, IngestState};
use crate::runtime::{Runtime, Shared};
use crate::store::{postgres::PgStore, Store};
use crate::telemetry::Metrics;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often windows are checked for due digests and backlogs for folding.
const TICK: Duration = Duration::from_millis(200);

pub struct Application {
    port: u16,
    admin_port: u16,
    server: actix_web::dev::Server,
    handle: ServerHandle,
    admin_server: actix_web::dev::Server,
    admin_handle: ServerHandle,
    control: Control,
    engine: std::thread::JoinHandle<()>,
    shutdown_tx: watch::Sender<bool>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Validates the settings, opens the store, starts the engine, the workers and
    /// the HTTP listener. `config_path` is re-read on reload.
    pub async fn build(
        settings: Settings,
        config_path: Option<PathBuf>,
    ) -> anyhow::Result<Application> {
        Self::build_with_clock(settings, config_path, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        config_path: Option<PathBuf>,
        clock: SharedClock,
    ) -> anyhow::Result<Application> {
        let rt = Runtime::build(settings).map_err(crate::config::Invalid)?;
        for w in &rt.warnings {
            tracing::warn!("{w}");
        }
        let s = rt.settings.clone();
        let metrics = Arc::new(Metrics::new());
        metrics.register_series(&rt);
        let wakers = Wakers::default();
        let rt = Arc::new(rt);
        let (dispatcher, engine) = match &s.store.url {
            Some(url) => {
                use secrecy::ExposeSecret;
                let store = PgStore::open(url.expose_secret())
                    .with_context(|| format!("opening store.url {}", s.store.describe()))?;
                dispatch::spawn(
                    store,
                    rt.clone(),
                    clock.clone(),
                    wakers.clone(),
                    metrics.clone(),
                )?
            }
            None => {
                let store = Store::open(&s.store.path)
                    .with_context(|| format!("opening store.path {}", s.store.path.display()))?;
                dispatch::spawn(
                    store,
                    rt.clone(),
                    clock.clone(),
                    wakers.clone(),
                    metrics.clone(),
                )?
            }
        };
        metrics.gauge("twilert_store_ready", &[]).set(1.0);
        let shared = Shared::new_arc(rt.clone());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let http = reqwest::Client::builder()
            .user_agent(concat!("twilert/", env!("CARGO_PKG_VERSION")))
            .timeout(s.delivery.timeout.0)
            .build()
            .context("building the HTTP client")?;
        let control = Control::new(
            shared.clone(),
            dispatcher.clone(),
            metrics.clone(),
            config_path,
            WorkerSet::new(wakers.clone(), clock.clone(), http, shutdown_rx.clone()),
        );
        control.start_workers()?;
        metrics.gauge("twilert_config_reload_success", &[]).set(1.0);
        metrics
            .gauge("twilert_config_reload_timestamp_seconds", &[])
            .set(clock.now_ms() as f64 / 1000.0);
        metrics
            .gauge(
                "twilert_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);

        let ticker = tokio::spawn(tick_loop(control.clone(), clock.clone(), shutdown_rx));

        raise_fd_limit();
        let listener = bind(&s.server.listen)
            .with_context(|| format!("binding server.listen {}", s.server.listen))?;
        let port = listener.local_addr()?.port();
        let ingest = web::Data::new(IngestState::new(
            &s,
            dispatcher.clone(),
            clock.clone(),
            metrics.clone(),
        ));
        let ctl = web::Data::new(control.clone());
        // Slack's button presses (SPEC 14): its own client, Slack answered in 3 s.
        let slack_actions = web::Data::new(crate::ingest::slack_actions::SlackActions {
            ctl: control.clone(),
            http: reqwest::Client::builder()
                .user_agent(concat!("twilert/", env!("CARGO_PKG_VERSION")))
                .timeout(Duration::from_secs(10))
                .build()
                .context("building the HTTP client")?,
        });
        let path = s.server.path.clone();
        let public = ctl.clone();
        let events_path = s.server.event_streams_path.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(ingest.clone())
                .app_data(public.clone())
                .service(
                    web::resource(&path)
                        .route(web::post().to(debugger))
                        .default_service(web::to(crate::admin::post_only)),
                )
                .service(
                    web::resource(&events_path)
                        .route(web::post().to(event_streams))
                        .default_service(web::to(crate::admin::post_only)),
                )
                .app_data(slack_actions.clone())
                .service(
                    web::resource("/slack/actions")
                        .route(web::post().to(crate::ingest::slack_actions::slack_actions))
                        .default_service(web::to(crate::admin::not_found)),
                )
                .route("/healthz", web::get().to(crate::admin::healthz))
                .route("/readyz", web::get().to(crate::admin::readyz))
                .default_service(web::to(crate::admin::not_found))
        })
        .max_connections(s.server.max_connections)
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(s.delivery.shutdown_grace.0.as_secs().max(1));
        if s.server.workers > 0 {
            server = server.workers(s.server.workers);
        }
        let server = server.run();
        let handle = server.handle();

        let admin_listener = bind(&s.admin.listen)
            .with_context(|| format!("binding admin.listen {}", s.admin.listen))?;
        let admin_port = admin_listener.local_addr()?.port();
        let views = web::Data::new(crate::console::ReadPool::new(s.store.clone()));
        let sessions = web::Data::new(crate::console::Sessions::new());
        let admin_server = HttpServer::new(move || {
            App::new()
                .app_data(ctl.clone())
                .app_data(views.clone())
                .app_data(sessions.clone())
                .wrap(actix_web::middleware::from_fn(crate::admin::require_token))
                .route("/healthz", web::get().to(crate::admin::healthz))
                .route("/readyz", web::get().to(crate::admin::readyz))
                .route("/metrics", web::get().to(crate::admin::metrics))
                .route("/-/reload", web::post().to(crate::admin::reload))
                .route(
                    "/api/v1/dead-letters/retry",
                    web::post().to(crate::admin::retry_dead_letters),
                )
                .configure(crate::console::routes)
                .default_service(web::to(crate::admin::not_found))
        })
        .listen(admin_listener)?
        .disable_signals()
        .workers(1)
        .shutdown_timeout(1)
        .run();
        let admin_handle = admin_server.handle();
        tracing::info!(port, path = %s.server.path, event_streams_path = %s.server.event_streams_path, admin_port, store = %s.store.describe(), "twilert listening");
        Ok(Application {
            port,
            admin_port,
            server,
            handle,
            admin_server,
            admin_handle,
            control,
            engine,
            shutdown_tx,
            ticker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port (`admin.listen`).
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Serves until SIGTERM/SIGINT (then shuts down gracefully); SIGHUP reloads.
    pub async fn run_until_stopped(self, signals: Signals) -> anyhow::Result<()> {
        let handle = self.handle.clone();
        let control = self.control.clone();
        let signals = tokio::spawn(async move {
            signals.wait_for_stop(&control).await;
            handle.stop(true).await;
        });
        self.serve_then_drain(signals).await
    }

    /// Serves until `stop` is called on the returned handle (tests).
    pub async fn run_until(self, stop: tokio::sync::oneshot::Receiver<()>) -> anyhow::Result<()> {
        let handle = self.handle.clone();
        let signals = tokio::spawn(async move {
            let _ = stop.await;
            handle.stop(true).await;
        });
        self.serve_then_drain(signals).await
    }

    async fn serve_then_drain(self, signals: tokio::task::JoinHandle<()>) -> anyhow::Result<()> {
        let grace = self.control.shared.get().settings.delivery.shutdown_grace.0;
        let admin_handle = self.admin_handle.clone();
        let admin = tokio::spawn(self.admin_server);
        let served = self.server.await;
        signals.abort();
        admin_handle.stop(true).await;
        let _ = admin.await;
        tracing::info!("stopped accepting events; finishing in-flight deliveries");
        let _ = self.shutdown_tx.send(true);
        let handles = self.control.take_worker_handles();
        let all = futures_util::future::join_all(handles);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("shutdown_grace passed with deliveries in flight; they stay pending in the store and resume at next start");
        }
        self.ticker.abort();
        let Application {
            control, engine, ..
        } = self;
        control.dispatcher.stop();
        let _ = tokio::task::spawn_blocking(move || engine.join()).await;
        tracing::info!("twilert stopped");
        served.map_err(Into::into)
    }
}

/// Listen queue for the public listener: a burst of connections (or many slow
/// clients holding workers) waits in the kernel instead of being dropped.
const LISTEN_BACKLOG: i32 = 1024;

/// Binds `addr` (`host:port`, port 0 picks one) with a deep listen queue.
fn bind(addr: &str) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Raises the soft open-files limit to the hard one: every connection, slow
/// clients included (`server.max_connections`), holds a descriptor.
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                let wanted = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                    tracing::debug!(
                        from = lim.rlim_cur,
                        to = lim.rlim_max,
                        "raised the open-files limit"
                    );
                }
            }
        }
    }
}

async fn tick_loop(control: Control, clock: SharedClock, mut shutdown: watch::Receiver<bool>) {
    let (dispatcher, shared, metrics) = (
        control.dispatcher.clone(),
        control.shared.clone(),
        control.metrics.clone(),
    );
    let mut last_prune = 0i64;
    let mut last_heartbeat: Option<std::time::Instant> = None;
    loop {
        // Four heartbeats per lease: a replica is seen while alive, and its
        // configuration compared, well within one lease.
        let every = shared.get().settings.delivery.lease.0 / 4;
        if last_heartbeat.is_none_or(|t| t.elapsed() >= every) {
            last_heartbeat = Some(std::time::Instant::now());
            control.heartbeat().await;
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
        dispatcher.tick().await;
        metrics.upkeep();
        let now = clock.now_ms();
        if now - last_prune > 3_600_000 {
            last_prune = now;
            let rt = shared.get();
            let retention = rt.settings.store.retention.0.as_millis() as i64;
            let warn_size = rt.settings.store.warn_size_bytes;
            let (d, store, m) = (
                dispatcher.clone(),
                rt.settings.store.describe(),
                metrics.clone(),
            );
            tokio::spawn(async move {
                let size = d.prune(now - retention).await;
                if let Some(size) = size {
                    m.gauge("twilert_store_size_bytes", &[]).set(size as f64);
                    if size > warn_size {
                        tracing::warn!(bytes = size, limit = warn_size, store = %store, "store is larger than store.warn_size_bytes");
                    }
                }
            });
        }
    }
}

/// The process's SIGTERM, SIGINT and SIGHUP, taken over from their default
/// actions (which end the process) as soon as they are installed; what arrives
/// before they are awaited waits for them.
pub struct Signals {
    #[cfg(unix)]
    streams: [tokio::signal::unix::Signal; 3],
}

impl Signals {
    #[cfg(unix)]
    pub fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            streams: [
                signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
                signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
            ],
        })
    }

    #[cfg(not(unix))]
    pub fn install() -> anyhow::Result<Signals> {
        Ok(Signals {})
    }

    /// Returns at SIGTERM or SIGINT; reloads at each SIGHUP.
    #[cfg(unix)]
    async fn wait_for_stop(self, control: &Control) {
        let [mut term, mut int, mut hup] = self.streams;
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); return; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); return; }
                _ = hup.recv() => { tracing::info!("SIGHUP: reloading"); let _ = control.reload(); }
            }
        }
    }

    #[cfg(not(unix))]
    async fn wait_for_stop(self, _control: &Control) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
