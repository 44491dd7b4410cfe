//! `GET /metrics`: Prometheus text format.
//!
//! Two kinds of values: the process-wide instruments the hot paths update themselves
//! (`huddle_metrics`: messages stored, store and broadcast latency, database pool waits), and
//! values read only when scraped (connections and the hub's counters from [`HubStats`], the
//! database pool's state, the process's memory and CPU). Scraping costs the hot paths nothing.
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpResponse};
use huddle_realtime::{Gateway, HubStats};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

/// The database pool as the metrics see it: `(idle, in use)` connections.
pub type PoolState = Arc<dyn Fn() -> (u32, u32) + Send + Sync>;

/// One server's registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub fn new(gateway: Gateway, pool: PoolState) -> prometheus::Result<Self> {
        let registry = Registry::new();
        huddle_metrics::register(&registry)?;
        registry.register(Box::new(Sampled::new(gateway, pool)?))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self { registry })
    }

    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

/// Mounts `GET /metrics`.
pub fn configure(metrics: Metrics) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(metrics))
            .service(web::resource("/metrics").route(web::get().to(scrape)));
    }
}

async fn scrape(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

/// Values read at scrape time.
struct Sampled {
    gateway: Gateway,
    pool: PoolState,
    /// Counters are re-set from their sources on each scrape; one scrape at a time.
    lock: Mutex<()>,
    sockets: IntGauge,
    connections: IntGauge,
    users_online: IntGauge,
    deliveries: IntCounter,
    queue_drops: IntCounter,
    slow_closes: IntCounter,
    gap_fills: IntCounter,
    gate_shut: IntCounter,
    hub_lag: Gauge,
    pool_conns: IntGaugeVec,
    descs: Vec<Desc>,
}

impl Sampled {
    fn new(gateway: Gateway, pool: PoolState) -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| IntGauge::with_opts(Opts::new(name, help));
        let counter = |name: &str, help: &str| IntCounter::with_opts(Opts::new(name, help));
        let mut s = Self {
            gateway,
            pool,
            lock: Mutex::new(()),
            sockets: gauge(
                "huddle_ws_sockets_open",
                "Open WebSocket connections, authenticated or not.",
            )?,
            connections: gauge(
                "huddle_ws_connections",
                "Authenticated WebSocket connections registered with the hub.",
            )?,
            users_online: gauge("huddle_users_online", "Users with at least one connection.")?,
            deliveries: counter(
                "huddle_deliveries_total",
                "Events queued for a connection (one per receiving connection).",
            )?,
            queue_drops: counter(
                "huddle_outbound_queue_drops_total",
                "Events not queued because a connection's outbound queue was full.",
            )?,
            slow_closes: counter(
                "huddle_slow_consumer_closes_total",
                "Connections closed with 1013 for not keeping up.",
            )?,
            gap_fills: counter(
                "huddle_gap_fills_total",
                "Room gaps the hub read from the database.",
            )?,
            gate_shut: counter(
                "huddle_send_gate_shut_total",
                "Times sockets that send stopped being read because some process's hub ran behind.",
            )?,
            hub_lag: Gauge::with_opts(Opts::new(
                "huddle_hub_lag_seconds",
                "How long the hub's latest turn waited in its queue (0 when it caught up).",
            ))?,
            pool_conns: IntGaugeVec::new(
                Opts::new(
                    "huddle_db_pool_connections",
                    "Database pool connections by state.",
                ),
                &["state"],
            )?,
            descs: Vec::new(),
        };
        let descs: Vec<Desc> = s
            .collectors()
            .iter()
            .flat_map(|c| c.desc().into_iter().cloned())
            .collect();
        s.descs = descs;
        Ok(s)
    }

    fn collectors(&self) -> [&dyn Collector; 10] {
        [
            &self.sockets,
            &self.connections,
            &self.users_online,
            &self.deliveries,
            &self.queue_drops,
            &self.slow_closes,
            &self.gap_fills,
            &self.gate_shut,
            &self.hub_lag,
            &self.pool_conns,
        ]
    }

    fn sample(&self) {
        let stats: &HubStats = self.gateway.hub().stats();
        let gate = self.gateway.hub().send_gate();
        self.hub_lag.set(gate.local().as_secs_f64());
        let load = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
        let as_gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.sockets
            .set(as_gauge(self.gateway.active_connections() as u64));
        self.connections.set(as_gauge(load(&stats.connections)));
        self.users_online.set(as_gauge(load(&stats.users_online)));
        for (counter, value) in [
            (&self.deliveries, load(&stats.deliveries)),
            (&self.queue_drops, load(&stats.queue_drops)),
            (&self.slow_closes, load(&stats.slow_consumer_closes)),
            (&self.gap_fills, load(&stats.gap_fills)),
            (&self.gate_shut, gate.times_shut()),
        ] {
            counter.reset();
            counter.inc_by(value);
        }
        let (idle, in_use) = (self.pool)();
        self.pool_conns
            .with_label_values(&["idle"])
            .set(i64::from(idle));
        self.pool_conns
            .with_label_values(&["in_use"])
            .set(i64::from(in_use));
    }
}

impl Collector for Sampled {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.sample();
        self.collectors().iter().flat_map(|c| c.collect()).collect()
    }
}
