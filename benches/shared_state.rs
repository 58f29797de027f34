//! Team mode's cost and worth. Cost: the latency a request gains when its router is in a
//! team (shared state on, a peer connected) against the same router alone, end to end over
//! HTTP to a local upstream. Worth: how many 429s three routers draw from one row that allows
//! 10 requests a minute, each router sending a request every 2 s for 10 minutes — alone, and
//! telling each other through the engine's own `HealthBook` and `shared::Mirror` (virtual
//! time, so the ten minutes take milliseconds). A plain program that prints markdown tables
//! for `docs/PERFORMANCE.md`; it measures, it never asserts a timing.
//!
//! Run: `cargo bench --bench shared_state` (needs `redis-server`, as the tests do).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use modelrelay::engine::config::{ConfigFile, ConfigStore, EnvOverrides, EnvSource};
use modelrelay::engine::credentials::Credentials;
use modelrelay::engine::health::{
    AttemptReport, AttemptResult, HealthBook, RateLimitInfo, SampleSource, Window,
};
use modelrelay::engine::providers::{ModelRow, Provider, RowOrigin};
use modelrelay::engine::secrets::MemoryStore;
use modelrelay::engine::shared::entry::{Clock, Envelope};
use modelrelay::engine::shared::Mirror;
use modelrelay::engine::{self, EngineOptions, RunningEngine};
use serde_json::json;

const ROUNDS: usize = 10;
const REQUESTS_PER_BLOCK: usize = 1000;
const WARMUP: usize = 300;

// ---------------------------------------------------------------------------------------------
// Cost: latency with shared state on vs off.

async fn upstream_chat() -> Response {
    let body = json!({"id": "c", "object": "chat.completion", "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn start_upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/v1/chat/completions", post(upstream_chat));
    // The bench's fake upstream, not an engine task.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_redis(port: u16) -> Redis {
    let redis = Redis(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                "cannot start `redis-server` ({e}); install it (`apt-get install -y redis-server`)"
            )
            }),
    );
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("redis-server did not start");
}

async fn start_engine(
    dir: &std::path::Path,
    name: &str,
    upstream: std::net::SocketAddr,
    redis: Option<u16>,
) -> RunningEngine {
    let mut config = json!({
        "autoPingEnabled": false,
        "providers": {
            "opencode": {"enabled": false}, "kilocode": {"enabled": false},
            "openai-compatible:bench": {"enabled": true, "name": "bench", "baseUrl": format!("http://{upstream}/v1"), "modelId": "bench-model", "discoverModels": false}
        }
    });
    if let Some(port) = redis {
        config["sharedState"] =
            json!({"redisUrl": format!("redis://127.0.0.1:{port}/0"), "namespace": "bench"});
    }
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let mut options = EngineOptions::new(path);
    options.port = 0;
    options.env = EnvSource::empty();
    options.secret_store = Some(Arc::new(MemoryStore::new()));
    engine::start(options).await.expect("the engine starts")
}

async fn block(client: &reqwest::Client, url: &str, samples: &mut Vec<Duration>, count: usize) {
    let body = json!({"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    for _ in 0..count {
        let started = Instant::now();
        let response = client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        samples.push(started.elapsed());
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

async fn latency() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = start_upstream().await;
    let port = free_port();
    let _redis = start_redis(port).await;
    let alone = start_engine(dir.path(), "alone", upstream, None).await;
    let teamed = start_engine(dir.path(), "teamed", upstream, Some(port)).await;
    let peer = start_engine(dir.path(), "peer", upstream, Some(port)).await;
    while !(teamed.state().shared.is_connected() && peer.state().shared.is_connected()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let url =
        |engine: &RunningEngine| format!("http://{}/v1/chat/completions", engine.local_addr());
    let (alone_url, teamed_url, peer_url) = (url(&alone), url(&teamed), url(&peer));
    let mut ignored = Vec::new();
    block(&client, &alone_url, &mut ignored, WARMUP).await;
    block(&client, &teamed_url, &mut ignored, WARMUP).await;
    block(&client, &peer_url, &mut ignored, WARMUP).await;
    // Measure with the team link busy: the peer's row numbers have reached the teamed router.
    while teamed.state().shared.applied("health") == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        block(&client, &alone_url, &mut off, REQUESTS_PER_BLOCK).await;
        block(&client, &teamed_url, &mut on, REQUESTS_PER_BLOCK).await;
        // The peer works too, so the teamed router hears entries while it serves.
        block(&client, &peer_url, &mut ignored, 20).await;
    }
    off.sort();
    on.sort();
    println!("| shared state | requests | p50 ms | p95 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (label, samples) in [("off (alone)", &off), ("on (a peer in the team)", &on)] {
        println!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} |",
            samples.len(),
            percentile(samples, 0.5),
            percentile(samples, 0.95),
            percentile(samples, 0.99)
        );
    }
    println!(
        "\nadded at p50: {:+.3} ms; row numbers the teamed router applied from its peer: {}\n",
        percentile(&on, 0.5) - percentile(&off, 0.5),
        teamed.state().shared.applied("health"),
    );
    for engine in [alone, teamed, peer] {
        engine.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Worth: 429s from one 10-per-minute row, three routers, alone vs shared.

const ROUTERS: usize = 3;
const QUOTA_PER_MINUTE: u32 = 10;
const REQUEST_EVERY: Duration = Duration::from_secs(2);
const SPAN: Duration = Duration::from_secs(600);

struct SimRouter {
    book: Arc<HealthBook>,
    learned: tokio::sync::mpsc::UnboundedReceiver<modelrelay::engine::health::Learned>,
    mirror: Mirror,
}

/// Returns (429s drawn, requests the row served, requests kept off the row).
fn simulate(shared: bool) -> (u32, u32, u32) {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(ConfigStore::new(
        ConfigFile::load(&dir.path().join("c.json")).unwrap(),
    ));
    let credentials = Arc::new(Credentials::load(
        EnvOverrides::default(),
        Arc::new(MemoryStore::new()),
        &[],
    ));
    let row = ModelRow::new(
        Arc::new(Provider::new("tight", "tight", "http://tight/v1")),
        "m",
        "m",
        RowOrigin::Builtin,
    );
    let mut routers: Vec<SimRouter> = (0..ROUTERS)
        .map(|i| {
            let book = Arc::new(HealthBook::default());
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            book.share_with(tx);
            let mirror = Mirror::new(
                format!("router-{i}"),
                book.clone(),
                credentials.clone(),
                config.clone(),
                Arc::default(),
            );
            SimRouter {
                book,
                learned: rx,
                mirror,
            }
        })
        .collect();
    let real = Clock::now();
    let at = |t: Duration| Clock {
        instant: real.instant + t,
        unix_ms: real.unix_ms + t.as_millis() as u64,
    };
    let (mut limited, mut served, mut kept_off) = (0, 0, 0);
    let mut window_start = Duration::ZERO;
    let mut used = 0u32;
    let stagger = REQUEST_EVERY / ROUTERS as u32;
    let mut t = Duration::ZERO;
    while t < SPAN {
        for i in 0..ROUTERS {
            let now = t + stagger * i as u32;
            let clock = at(now);
            if now >= window_start + Duration::from_secs(60) {
                window_start = now - Duration::from_millis(now.as_millis() as u64 % 60_000);
                used = 0;
            }
            let router = &routers[i];
            if !router.book.admit(&row, clock.instant) {
                kept_off += 1;
                continue;
            }
            let report = if used < QUOTA_PER_MINUTE {
                used += 1;
                served += 1;
                AttemptReport {
                    source: SampleSource::Traffic,
                    outcome: AttemptResult::Success {
                        ttft: Duration::from_millis(300),
                        total: Duration::from_millis(900),
                        tokens: Some(50),
                    },
                    rate: None,
                }
            } else {
                limited += 1;
                let reset = window_start + Duration::from_secs(60) - now;
                AttemptReport {
                    source: SampleSource::Traffic,
                    outcome: AttemptResult::RateLimited {
                        message: "429".into(),
                    },
                    rate: Some(RateLimitInfo {
                        exhausted_for: Some((reset, Window::Minute)),
                        ..RateLimitInfo::default()
                    }),
                }
            };
            router.book.record(&row, report, clock.instant);
            // What the router learned goes to the others, as the link would carry it.
            let mut outgoing = Vec::new();
            while let Ok(learned) = routers[i].learned.try_recv() {
                outgoing.push(routers[i].mirror.from_book("salt", learned, clock));
            }
            if shared {
                for entry in outgoing {
                    let envelope = Envelope {
                        from: routers[i].mirror.router.clone(),
                        sent_ms: clock.unix_ms,
                        entry,
                    };
                    for (j, other) in routers.iter_mut().enumerate() {
                        if j != i {
                            other.mirror.apply("salt", envelope.clone(), clock);
                        }
                    }
                }
            }
        }
        t += REQUEST_EVERY;
    }
    (limited, served, kept_off)
}

fn quota() {
    println!("| three routers, one row of {QUOTA_PER_MINUTE}/min, a request each every {} s for {} min | 429s drawn | served by the row | kept off the row |", REQUEST_EVERY.as_secs(), SPAN.as_secs() / 60);
    println!("| --- | ---: | ---: | ---: |");
    for (label, shared) in [("each router alone", false), ("shared state", true)] {
        let (limited, served, kept_off) = simulate(shared);
        println!("| {label} | {limited} | {served} | {kept_off} |");
    }
    println!();
}

fn main() {
    quota();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(latency());
}
