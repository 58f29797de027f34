//! Proxy overhead: how much latency modelrelay adds over calling an upstream directly, for
//! non-streamed and streamed chat completions at concurrency 1 and 32, and how much memory the
//! router binary holds. A plain program (no harness) that prints markdown tables; the numbers
//! are recorded in `docs/PERFORMANCE.md`. It measures, it never asserts a timing.
//!
//! Run: `cargo build --release && cargo bench --bench proxy_overhead`
//! (the memory part spawns `target/release/modelrelay` and is skipped when it is missing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::future::join_all;
use modelrelay::engine::config::EnvSource;
use modelrelay::engine::{self, EngineOptions, RunningEngine};
use serde_json::json;

const MODEL: &str = "bench-model";
/// Events in the fake stream; the last one also carries `[DONE]`.
const STREAM_CHUNKS: usize = 20;
/// Each scenario alternates direct and routed blocks this many times to cancel slow drift.
const ROUNDS: usize = 10;
const WARMUP_REQUESTS: usize = 500;
/// Requests sent through the spawned binary before its memory is read again.
const MEMORY_LOAD_REQUESTS: usize = 1000;
const MEMORY_LOAD_CONCURRENCY: usize = 32;
/// Requests per path and mode for the cross-check through the spawned binary.
const PROCESS_LATENCY_REQUESTS: usize = 500;

#[derive(Clone, Copy)]
struct Scenario {
    stream: bool,
    concurrency: usize,
    requests: usize,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        stream: false,
        concurrency: 1,
        requests: 5000,
    },
    Scenario {
        stream: true,
        concurrency: 1,
        requests: 5000,
    },
    Scenario {
        stream: false,
        concurrency: 32,
        requests: 8000,
    },
    Scenario {
        stream: true,
        concurrency: 32,
        requests: 8000,
    },
];

impl Scenario {
    fn label(self) -> String {
        let mode = if self.stream { "stream" } else { "non-stream" };
        format!("{mode}, c={}", self.concurrency)
    }
}

// ---------------------------------------------------------------------------------------------
// The fake upstream: fixed answers, no parsing, no delays.

#[derive(Clone)]
struct Canned {
    completion: Bytes,
    chunks: Arc<[Bytes]>,
}

impl Canned {
    fn new() -> Self {
        let completion = json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the benchmark upstream."},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}
        });
        let event = |delta: serde_json::Value, finish: Option<&str>| {
            json!({
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
            })
        };
        let mut chunks: Vec<Bytes> = (0..STREAM_CHUNKS - 1)
            .map(|i| {
                let e = event(json!({"content": format!("tok{i} ")}), None);
                Bytes::from(format!("data: {e}\n\n"))
            })
            .collect();
        let last = event(json!({}), Some("stop"));
        chunks.push(Bytes::from(format!("data: {last}\n\ndata: [DONE]\n\n")));
        Self {
            completion: Bytes::from(completion.to_string()),
            chunks: chunks.into(),
        }
    }

    fn expected_len(&self, stream: bool) -> usize {
        if stream {
            self.chunks.iter().map(Bytes::len).sum()
        } else {
            self.completion.len()
        }
    }
}

async fn upstream_chat(State(canned): State<Canned>, body: Bytes) -> Response {
    let wants_stream = body
        .windows(b"\"stream\":true".len())
        .any(|w| w == b"\"stream\":true");
    if !wants_stream {
        return Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(canned.completion.clone()))
            .unwrap();
    }
    let chunks = canned.chunks.clone();
    let events = futures_util::stream::unfold(0usize, move |i| {
        let chunks = chunks.clone();
        async move {
            let chunk = chunks.get(i)?.clone();
            if i > 0 {
                // No delay, but hand control back once so hyper writes each event on its
                // own, as a real upstream generating tokens would, instead of one batch.
                tokio::task::yield_now().await;
            }
            Some((Ok::<_, Infallible>(chunk), i + 1))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap()
}

fn start_upstream(runtime: &tokio::runtime::Runtime, canned: Canned) -> SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("the fake upstream binds");
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/chat/completions", post(upstream_chat))
        .with_state(canned);
    runtime.spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

fn router_config(upstream: SocketAddr) -> Vec<u8> {
    router_config_with(upstream, 1)
}

/// `endpoints` OpenAI-compatible endpoints on the same upstream (the first serves `MODEL`, the
/// others `bench-model-<n>`). Probes and the keyless built-in providers stay off: the bench
/// measures forwarding only and never reaches the internet.
fn router_config_with(upstream: SocketAddr, endpoints: usize) -> Vec<u8> {
    let mut providers = serde_json::Map::new();
    providers.insert("opencode".into(), json!({"enabled": false}));
    providers.insert("kilocode".into(), json!({"enabled": false}));
    for n in 0..endpoints {
        let (key, model) = match n {
            0 => ("openai-compatible:bench".to_string(), MODEL.to_string()),
            n => (
                format!("openai-compatible:bench-{n}"),
                format!("{MODEL}-{n}"),
            ),
        };
        providers.insert(
            key,
            json!({
                "enabled": true,
                "name": format!("bench {n}"),
                "baseUrl": format!("http://{upstream}/v1"),
                "modelId": model,
                "discoverModels": false
            }),
        );
    }
    serde_json::to_vec_pretty(&json!({"autoPingEnabled": false, "providers": providers})).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The load generator.

struct Sample {
    first: Duration,
    total: Duration,
    chunks: usize,
    bytes: usize,
}

struct Target {
    url: String,
}

fn request_body(stream: bool) -> Bytes {
    request_body_for(MODEL, stream)
}

fn request_body_for(model: &str, stream: bool) -> Bytes {
    Bytes::from(
        json!({
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": "hello"}]
        })
        .to_string(),
    )
}

async fn one_request(client: &reqwest::Client, url: &str, body: &Bytes) -> Sample {
    let start = Instant::now();
    let mut response = client
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("the request is sent");
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        panic!("{url} answered {status}: {text}");
    }
    let mut first = None;
    let mut chunks = 0;
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await.expect("the body is read") {
        if chunk.is_empty() {
            continue;
        }
        first.get_or_insert_with(|| start.elapsed());
        chunks += 1;
        bytes += chunk.len();
    }
    let total = start.elapsed();
    Sample {
        first: first.unwrap_or(total),
        total,
        chunks,
        bytes,
    }
}

/// Sends `count` requests from `concurrency` workers; returns the samples and the wall time.
async fn run_block(
    client: &reqwest::Client,
    target: &Target,
    body: &Bytes,
    concurrency: usize,
    count: usize,
) -> (Vec<Sample>, Duration) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| async {
        let mut samples = Vec::new();
        while next.fetch_add(1, Ordering::Relaxed) < count {
            samples.push(one_request(client, &target.url, body).await);
        }
        samples
    });
    let samples = join_all(workers).await.into_iter().flatten().collect();
    (samples, started.elapsed())
}

#[derive(Default)]
struct PathResult {
    samples: Vec<Sample>,
    wall: Duration,
}

impl PathResult {
    fn add(&mut self, (samples, wall): (Vec<Sample>, Duration)) {
        self.samples.extend(samples);
        self.wall += wall;
    }

    fn sorted(&self, pick: fn(&Sample) -> Duration) -> Vec<Duration> {
        let mut values: Vec<Duration> = self.samples.iter().map(pick).collect();
        values.sort_unstable();
        values
    }

    fn throughput(&self) -> f64 {
        self.samples.len() as f64 / self.wall.as_secs_f64()
    }

    fn mean_chunks(&self) -> f64 {
        let chunks: usize = self.samples.iter().map(|s| s.chunks).sum();
        chunks as f64 / self.samples.len().max(1) as f64
    }

    fn check_bodies(&self, expected: usize, what: &str) {
        if let Some(bad) = self.samples.iter().find(|s| s.bytes != expected) {
            panic!(
                "{what}: a body had {} bytes, expected {expected}",
                bad.bytes
            );
        }
    }
}

/// Alternates direct and routed blocks (flipping the order each round) for one scenario.
async fn measure(
    client: &reqwest::Client,
    direct: &Target,
    routed: &Target,
    scenario: Scenario,
    rounds: usize,
) -> (PathResult, PathResult) {
    let body = request_body(scenario.stream);
    let per_round = scenario.requests / rounds;
    let mut direct_result = PathResult::default();
    let mut routed_result = PathResult::default();
    for round in 0..rounds {
        if round % 2 == 0 {
            direct_result
                .add(run_block(client, direct, &body, scenario.concurrency, per_round).await);
            routed_result
                .add(run_block(client, routed, &body, scenario.concurrency, per_round).await);
        } else {
            routed_result
                .add(run_block(client, routed, &body, scenario.concurrency, per_round).await);
            direct_result
                .add(run_block(client, direct, &body, scenario.concurrency, per_round).await);
        }
    }
    (direct_result, routed_result)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

const PERCENTILES: [f64; 3] = [50.0, 90.0, 99.0];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One table row: direct and routed percentiles and their differences, in milliseconds.
fn latency_row(label: &str, direct: &[Duration], routed: &[Duration]) -> String {
    let d: Vec<f64> = PERCENTILES
        .iter()
        .map(|&p| ms(percentile(direct, p)))
        .collect();
    let r: Vec<f64> = PERCENTILES
        .iter()
        .map(|&p| ms(percentile(routed, p)))
        .collect();
    format!(
        "| {label} | {:.3} / {:.3} / {:.3} | {:.3} / {:.3} / {:.3} | **{:+.3}** / {:+.3} / **{:+.3}** |",
        d[0],
        d[1],
        d[2],
        r[0],
        r[1],
        r[2],
        r[0] - d[0],
        r[1] - d[1],
        r[2] - d[2]
    )
}

fn print_latency_header() {
    println!("| scenario, metric | direct p50 / p90 / p99 (ms) | through modelrelay p50 / p90 / p99 (ms) | added p50 / p90 / p99 (ms) |");
    println!("|---|---|---|---|");
}

fn print_latency_rows(label: &str, stream: bool, direct: &PathResult, routed: &PathResult) {
    if stream {
        println!(
            "{}",
            latency_row(
                &format!("{label}, first chunk"),
                &direct.sorted(|s| s.first),
                &routed.sorted(|s| s.first)
            )
        );
        println!(
            "{}",
            latency_row(
                &format!("{label}, whole stream"),
                &direct.sorted(|s| s.total),
                &routed.sorted(|s| s.total)
            )
        );
    } else {
        println!(
            "{}",
            latency_row(
                &format!("{label}, whole response"),
                &direct.sorted(|s| s.total),
                &routed.sorted(|s| s.total)
            )
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The spawned binary: memory, CPU per request and a cross-process latency check.

fn router_binary() -> Option<PathBuf> {
    if let Some(path) = option_env!("CARGO_BIN_EXE_modelrelay") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Some(path);
        }
    }
    // target/<profile>/deps/proxy_overhead-<hash> → target/<profile>/modelrelay
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    [deps.join("modelrelay"), deps.parent()?.join("modelrelay")]
        .into_iter()
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `kB` field of `/proc/<pid>/status`, such as `VmRSS`.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// CPU time of every live thread of `pid`, from `schedstat` (nanoseconds).
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

struct SpawnedRouter {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for SpawnedRouter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_router(
    binary: &Path,
    upstream: SocketAddr,
    client: &reqwest::Client,
) -> (SpawnedRouter, u16) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modelrelay.json");
    std::fs::write(&config, router_config(upstream)).unwrap();
    let port = free_port();
    // A clean environment: no API keys or RUST_LOG from the caller, default log level (info).
    let child = Command::new(binary)
        .env_clear()
        .env("HOME", dir.path())
        .arg("--port")
        .arg(port.to_string())
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the router binary starts");
    let mut router = SpawnedRouter { child, _dir: dir };
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = router.child.try_wait() {
            panic!("the router binary exited early: {status}");
        }
        if let Ok(response) = client.get(&health).send().await {
            if response.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the router binary did not answer /health"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (router, port)
}

async fn measure_process(client: &reqwest::Client, upstream: SocketAddr, direct: &Target) {
    println!("\n### Spawned binary: memory and CPU\n");
    let Some(binary) = router_binary() else {
        println!(
            "_Skipped: no `modelrelay` binary next to the benchmark. Run `cargo build --release` first._"
        );
        return;
    };
    eprintln!("router binary: {}", binary.display());
    let (router, port) = spawn_router(&binary, upstream, client).await;
    let pid = router.child.id();
    let routed = Target {
        url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = proc_status_kb(pid, "VmRSS");
    let threads = proc_status_kb(pid, "Threads");

    // Half the load non-streamed, half streamed, timing the router's CPU for each half.
    let half = MEMORY_LOAD_REQUESTS / 2;
    let mut cpu_per_request = Vec::new();
    for stream in [false, true] {
        let before = cpu_time(pid);
        let (samples, _) = run_block(
            client,
            &routed,
            &request_body(stream),
            MEMORY_LOAD_CONCURRENCY,
            half,
        )
        .await;
        let after = cpu_time(pid);
        if let (Some(before), Some(after)) = (before, after) {
            let micros = after.saturating_sub(before).as_secs_f64() * 1e6;
            cpu_per_request.push((stream, micros / samples.len() as f64));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded_rss = proc_status_kb(pid, "VmRSS");
    let peak_rss = proc_status_kb(pid, "VmHWM");

    let mb = |kb: Option<u64>| {
        kb.map_or("n/a".to_string(), |kb| {
            format!("{:.1} MB", kb as f64 / 1024.0)
        })
    };
    println!("| measure | value |");
    println!("|---|---|");
    println!("| RSS at idle (after `/health`) | {} |", mb(idle_rss));
    println!(
        "| RSS after {MEMORY_LOAD_REQUESTS} requests (half streamed, c={MEMORY_LOAD_CONCURRENCY}) | {} |",
        mb(loaded_rss)
    );
    println!("| peak RSS (VmHWM) | {} |", mb(peak_rss));
    println!(
        "| threads at idle | {} |",
        threads.map_or("n/a".to_string(), |t| t.to_string())
    );
    for (stream, micros) in cpu_per_request {
        let mode = if stream {
            "streamed (20 events)"
        } else {
            "non-streamed"
        };
        println!("| router CPU per {mode} request, c={MEMORY_LOAD_CONCURRENCY} | {micros:.0} µs |");
    }

    println!(
        "\n### Spawned binary: latency cross-check (c=1, {PROCESS_LATENCY_REQUESTS} requests per path, default `info` logging to /dev/null)\n"
    );
    print_latency_header();
    for stream in [false, true] {
        let scenario = Scenario {
            stream,
            concurrency: 1,
            requests: PROCESS_LATENCY_REQUESTS,
        };
        let (d, r) = measure(client, direct, &routed, scenario, 5).await;
        print_latency_rows(&scenario.label(), stream, &d, &r);
    }
    drop(router);
}

// ---------------------------------------------------------------------------------------------
// The floor: a bare nginx reverse proxy in front of the same upstream, measured in the same run.

struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's nginx (`nginx-light`) as a keep-alive, unbuffered reverse proxy, with as many
/// worker processes as the router has worker threads. `None` when nginx is not installed.
async fn start_nginx(upstream: SocketAddr, client: &reqwest::Client) -> Option<Nginx> {
    let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let root = dir.path().display();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let conf = format!(
        "worker_processes {workers};\ndaemon off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {root}/body;\n  proxy_temp_path {root}/proxy;\n\
           fastcgi_temp_path {root}/fastcgi;\n  uwsgi_temp_path {root}/uwsgi;\n  scgi_temp_path {root}/scgi;\n\
           upstream fake {{ server {upstream}; keepalive 64; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://fake;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}\n}}\n"
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let nginx = Nginx {
        child,
        _dir: dir,
        port,
    };
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    for _ in 0..250 {
        if let Ok(response) = client.post(&url).body(request_body(false)).send().await {
            if response.status().is_success() {
                return Some(nginx);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("nginx did not start; the floor is skipped");
    None
}

async fn measure_nginx(
    client: &reqwest::Client,
    upstream: SocketAddr,
    direct: &Target,
    canned: &Canned,
) {
    println!("\n### The floor: bare nginx in front of the same upstream\n");
    let Some(nginx) = start_nginx(upstream, client).await else {
        println!("_Skipped: nginx is not installed (`apt-get install nginx-light`)._");
        return;
    };
    let proxied = Target {
        url: format!("http://127.0.0.1:{}/v1/chat/completions", nginx.port),
    };
    run_block(client, &proxied, &request_body(false), 32, WARMUP_REQUESTS).await;
    println!("| scenario, metric | direct p50 / p90 / p99 (ms) | through nginx p50 / p90 / p99 (ms) | added p50 / p90 / p99 (ms) |");
    println!("|---|---|---|---|");
    let mut throughput = Vec::new();
    for scenario in SCENARIOS {
        let (d, n) = measure(client, direct, &proxied, scenario, ROUNDS).await;
        n.check_bodies(canned.expected_len(scenario.stream), "through nginx");
        print_latency_rows(&scenario.label(), scenario.stream, &d, &n);
        throughput.push(format!(
            "| {} | {:.0} | {:.0} |",
            scenario.label(),
            d.throughput(),
            n.throughput()
        ));
    }
    println!("\n| scenario | direct req/s | through nginx req/s |");
    println!("|---|---|---|");
    for row in throughput {
        println!("{row}");
    }
}

// ---------------------------------------------------------------------------------------------
// Cost against catalog size: the same request through routers with 1 and 1,000 endpoints.

const SCALE_REQUESTS: usize = 2000;

async fn measure_catalog_scale(
    client: &reqwest::Client,
    router_runtime: &tokio::runtime::Runtime,
    upstream: SocketAddr,
) {
    println!("\n### Cost against catalog size (non-streamed, c=1, {SCALE_REQUESTS} requests each; the built-in rows are there too, without keys)\n");
    println!(
        "| endpoints | `{MODEL}` p50 (ms) | `auto-fastest` p50 (ms) | `GET /api/models` p50 (ms) |"
    );
    println!("|---|---|---|---|");
    for endpoints in [1, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("modelrelay.json");
        std::fs::write(&config, router_config_with(upstream, endpoints)).unwrap();
        let mut options = EngineOptions::new(config);
        options.port = 0;
        options.env = EnvSource::empty();
        options.shutdown_grace = Duration::from_secs(1);
        let handle = router_runtime.handle().clone();
        let engine = handle
            .spawn(engine::start(options))
            .await
            .unwrap()
            .expect("the engine starts");
        let base = format!("http://{}", engine.local_addr());
        let chat = Target {
            url: format!("{base}/v1/chat/completions"),
        };
        let mut cells = Vec::new();
        for model in [MODEL, "auto-fastest"] {
            let body = request_body_for(model, false);
            run_block(client, &chat, &body, 1, WARMUP_REQUESTS).await;
            let (samples, _) = run_block(client, &chat, &body, 1, SCALE_REQUESTS).await;
            let mut totals: Vec<Duration> = samples.iter().map(|s| s.total).collect();
            totals.sort_unstable();
            cells.push(ms(percentile(&totals, 50.0)));
        }
        let mut views = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let response = client
                .get(format!("{base}/api/models"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap();
            views.push(started.elapsed());
        }
        views.sort_unstable();
        println!(
            "| {endpoints} | {:.3} | {:.3} | {:.2} |",
            cells[0],
            cells[1],
            ms(percentile(&views, 50.0))
        );
        handle.spawn(engine.shutdown()).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------

fn machine_description() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown", str::trim)
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("unknown".to_string(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or("unknown".to_string(), |s| s.trim_matches('"').to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("unknown".to_string(), |s| s.trim().to_string());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("- CPUs: {cores} × {cpu}");
    println!("- RAM: {mem}");
    println!("- OS: {os}, Linux {kernel}");
    println!("- {rustc}");
}

fn main() {
    let canned = Canned::new();
    // Three runtimes, as three processes would be: the upstream, the router, the client.
    let upstream_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-upstream")
        .enable_all()
        .build()
        .unwrap();
    let router_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-router")
        .enable_all()
        .build()
        .unwrap();
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let upstream = start_upstream(&upstream_runtime, canned.clone());
    let config_dir = tempfile::tempdir().unwrap();
    let config_path = config_dir.path().join("modelrelay.json");
    std::fs::write(&config_path, router_config(upstream)).unwrap();
    let mut options = EngineOptions::new(config_path);
    options.port = 0;
    options.env = EnvSource::empty();
    options.shutdown_grace = Duration::from_secs(1);
    let engine: RunningEngine = router_runtime
        .block_on(engine::start(options))
        .expect("the engine starts");

    let direct = Target {
        url: format!("http://{upstream}/v1/chat/completions"),
    };
    let routed = Target {
        url: format!("http://{}/v1/chat/completions", engine.local_addr()),
    };

    let started = Instant::now();
    client_runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .unwrap();

        for stream in [false, true] {
            let body = request_body(stream);
            for target in [&direct, &routed] {
                run_block(&client, target, &body, 32, WARMUP_REQUESTS).await;
            }
        }

        println!("## modelrelay proxy overhead\n");
        machine_description();
        println!(
            "\nIn-process: fake upstream (1 worker thread), router (`engine::start`, {} worker threads) and a keep-alive reqwest client (1 thread), each on its own Tokio runtime. Streams are {STREAM_CHUNKS} SSE events with no delay between them.\n",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        print_latency_header();
        let mut extra = Vec::new();
        for scenario in SCENARIOS {
            let (d, r) = measure(&client, &direct, &routed, scenario, ROUNDS).await;
            let expected = canned.expected_len(scenario.stream);
            d.check_bodies(expected, "direct");
            r.check_bodies(expected, "through modelrelay");
            print_latency_rows(&scenario.label(), scenario.stream, &d, &r);
            extra.push(format!(
                "| {} | {} | {:.0} | {:.0} | {:.1} | {:.1} |",
                scenario.label(),
                scenario.requests,
                d.throughput(),
                r.throughput(),
                d.mean_chunks(),
                r.mean_chunks()
            ));
        }
        println!("\n| scenario | requests per path | direct req/s | through req/s | body reads per response, direct | body reads per response, through |");
        println!("|---|---|---|---|---|---|");
        for row in extra {
            println!("{row}");
        }

        measure_nginx(&client, upstream, &direct, &canned).await;
        measure_catalog_scale(&client, &router_runtime, upstream).await;
        measure_process(&client, upstream, &direct).await;
    });
    eprintln!("benchmark took {:.1} s", started.elapsed().as_secs_f64());
    router_runtime.block_on(engine.shutdown());
}
