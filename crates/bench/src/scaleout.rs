//! Scale-out: the fan-out layout at one rate on one Huddle node alone, on one node with the
//! Redis bus, and on two nodes sharing the database and Redis, each room's sockets split
//! between them (so every message reaches half its room through Redis). The two-node figure
//! against the one-node one is the scaling; the one node with and without Redis is what the
//! bus costs per delivery.
//!
//! With a CPU budget per node (`--node-cpu`), each node runs in a cgroup of its own with that
//! quota, the one node alone too: on a machine smaller than the nodes' sum, this is what
//! makes the second node's share measurable, as each node would have its own machine or
//! container limit in production.
use serde_json::json;

use crate::cpu_cap::{self, CpuCap};
use crate::load::{self, LoadResult, SendMode, Target};
use crate::procs::{self, Server};
use crate::sample::{Probe, Tracker, Usage};
use crate::scenarios::{fanout_layout, print_load, FanoutOptions, Run, MAX_IN_FLIGHT};
use crate::Result;

/// Two nodes' deliveries/s as a multiple of one node's (issue 22).
const SCALE_RATIO_MIN: f64 = 1.6;

/// The generator is taken to be the limit once it uses this much of a core.
const GENERATOR_LIMIT_PERCENT: f64 = 90.0;

pub struct ScaleOptions {
    pub fanout: FanoutOptions,
    /// The Redis the nodes share, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// Each node's CPU budget in cores (a cgroup quota); none: as much as the machine gives.
    pub node_cpu: Option<f64>,
    /// Each node on a core of its own: the single node and the first of two on CPU 0, the
    /// second on CPU 1.
    pub pin_nodes: bool,
}

pub async fn scaleout(run: &mut Run, o: &ScaleOptions) -> Result<()> {
    // Several processes share one database only on PostgreSQL.
    run.db.connect_pg()?;
    let (layout, rate, _) = fanout_layout(run, &o.fanout, "scale-out").await?;
    let mode = SendMode::Open {
        rate,
        max_in_flight: MAX_IN_FLIGHT,
    };
    let load_on = |run: &Run, urls: Vec<String>| {
        run.load(
            Target::Nodes { ws_urls: urls },
            layout.huddle.clone(),
            layout.senders.clone(),
            mode,
        )
    };

    // The same budget for every node, each in a group of its own.
    let cap = |name: &str, node: &Server, cpu: usize| -> Result<Option<CpuCap>> {
        if o.pin_nodes {
            cpu_cap::pin(node.pid(), cpu)?;
        }
        let Some(cores) = o.node_cpu else {
            return Ok(None);
        };
        let mut cap = CpuCap::new(name, cores)?;
        cap.add(node.pid())?;
        Ok(Some(cap))
    };
    let mut budget = o.node_cpu.map_or(String::new(), |c| {
        format!(", each node capped at {c} cores")
    });
    if o.pin_nodes {
        budget.push_str(", each on a core of its own");
    }

    println!("-- one node, no Redis{budget}");
    let alone = {
        let _cap = cap("huddle-bench-node", &run.huddle, 0)?;
        measure(&load_on(run, vec![run.api.ws_url()]), &[&run.huddle]).await?
    };

    // Nodes of their own on the run's database, on one Redis channel prefix of their own (a
    // prefix per run, so nothing else on that Redis hears them).
    let prefix = format!("huddle-bench-{}", std::process::id());
    let node = |name: &'static str| -> Result<Server> {
        let s = &run.settings;
        let mut env = s.huddle_env.clone();
        env.push(("REDIS_URL".into(), o.redis_url.clone()));
        env.push(("HUDDLE_REDIS_PREFIX".into(), prefix.clone()));
        procs::start_huddle_named(name, &s.huddle_bin, &run.db.url(), &s.log_dir, &env)
    };
    let a = node("huddle-node-a")?;
    let cap_a = cap("huddle-bench-node-a", &a, 0)?;
    println!("-- one node with the Redis bus{budget}");
    let bused = measure(&load_on(run, vec![ws_url(&a)]), &[&a]).await?;
    let b = node("huddle-node-b")?;
    let cap_b = cap("huddle-bench-node-b", &b, 1)?;
    println!("-- two nodes, each room's sockets split between them{budget}");
    let two = measure(&load_on(run, vec![ws_url(&a), ws_url(&b)]), &[&a, &b]).await?;
    drop((a, b));
    drop((cap_a, cap_b));

    let ratio = two.result.deliveries_per_s / alone.result.deliveries_per_s.max(1e-9);
    // CPU-seconds per delivery, in µs: the nodes' and Redis's.
    let per_delivery =
        |m: &Measured| 1e4 * (m.nodes_cpu + m.redis_cpu) / m.result.deliveries_per_s.max(1e-9);
    let hop_us = per_delivery(&bused) - per_delivery(&alone);
    let generator_limited = two.generator_cpu >= GENERATOR_LIMIT_PERCENT;
    println!(
        "scale-out: two nodes {:.0} deliveries/s = {ratio:.2}x one node's {:.0} (target >= {SCALE_RATIO_MIN}x){}; \
         CPU per delivery: one node {:.2} us, with Redis {:.2} us (the hop: {hop_us:.2} us, Redis itself {:.0}% of a core), two nodes {:.2} us",
        two.result.deliveries_per_s,
        alone.result.deliveries_per_s,
        if generator_limited {
            "; the load generator was the limit"
        } else {
            ""
        },
        per_delivery(&alone),
        per_delivery(&bused),
        bused.redis_cpu,
        per_delivery(&two),
    );
    let intact = [&alone, &bused, &two]
        .iter()
        .all(|m| m.result.lost == 0 && m.result.duplicates == 0);
    run.record(
        "scaleout",
        json!({
            "rate_per_sender": rate,
            "node_cpu_cores": o.node_cpu,
            "pinned_nodes": o.pin_nodes,
            "one_node": alone.json(),
            "one_node_redis": bused.json(),
            "two_nodes": two.json(),
            "ratio": ratio,
            "redis_hop_cpu_us_per_delivery": hop_us,
            "generator_limited": generator_limited,
            "target_ratio_min": SCALE_RATIO_MIN,
            "met": ratio >= SCALE_RATIO_MIN && intact,
        }),
    );
    Ok(())
}

struct Measured {
    result: LoadResult,
    /// Percent of one core, summed over the nodes.
    nodes_cpu: f64,
    redis_cpu: f64,
    generator_cpu: f64,
}

impl Measured {
    fn json(&self) -> serde_json::Value {
        json!({"result": self.result, "nodes_cpu_percent": self.nodes_cpu,
               "redis_cpu_percent": self.redis_cpu})
    }
}

async fn measure(l: &load::Load, nodes: &[&Server]) -> Result<Measured> {
    let mut t: Vec<Tracker> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Tracker::new(format!("node {i}"), Probe::Pid(n.pid())))
        .collect();
    t.push(Tracker::new(
        "load generator",
        Probe::Pid(std::process::id()),
    ));
    t.push(Tracker::new("postgresql", Probe::Processes("postgres")));
    t.push(Tracker::new("redis", Probe::Processes("redis-server")));
    let result = load::run(l, &mut t).await?;
    print_load(&result);
    let cpu = |u: &Usage| u.cpu_percent;
    let of = |name: &str| {
        result
            .usage
            .iter()
            .find(|u| u.process == name)
            .map_or(0.0, cpu)
    };
    Ok(Measured {
        nodes_cpu: result
            .usage
            .iter()
            .filter(|u| u.process.starts_with("node "))
            .map(cpu)
            .sum(),
        redis_cpu: of("redis"),
        generator_cpu: of("load generator"),
        result,
    })
}

fn ws_url(node: &Server) -> String {
    format!("ws://127.0.0.1:{}/api/v1/ws", node.port)
}
