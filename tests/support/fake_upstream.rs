//! A fake OpenAI-compatible provider: an axum server on port 0 whose answer is scripted per
//! model (delays, chunk gaps, statuses, headers, hangs, dropped connections, non-JSON), and
//! which records every request it receives.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
// The fake owns its server task (aborted on drop); it is no engine task.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// How a stream ends after its chunks.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEnd {
    /// A final chunk with `finish_reason: "stop"`, then `data: [DONE]`.
    Done,
    /// Abort the connection (the client sees a broken chunked body).
    Drop,
    /// Close cleanly without a finish reason or `[DONE]`.
    Truncate,
    /// Stop sending but keep the connection open.
    Hang,
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Script {
    /// Answer `text` the way the request asks (stream or not), split into `chunks` pieces.
    Text {
        text: String,
        first_byte_delay: Duration,
        chunk_gap: Duration,
        end: StreamEnd,
        /// Extra response headers (`x-ratelimit-*`).
        headers: Vec<(String, String)>,
    },
    /// A fixed status, headers and body.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        content_type: String,
    },
    /// Never answer.
    Hang,
    /// A fixed stream body (tool calls and other shapes), one event per element.
    Events {
        events: Vec<Value>,
        chunk_gap: Duration,
    },
    /// Like `Events`, but the stream closes after them without a finish or `[DONE]`.
    EventsThenClose { events: Vec<Value> },
}

impl Script {
    pub fn text(text: &str) -> Self {
        Self::Text {
            text: text.into(),
            first_byte_delay: Duration::ZERO,
            chunk_gap: Duration::ZERO,
            end: StreamEnd::Done,
            headers: Vec::new(),
        }
    }

    pub fn status(status: u16, message: &str) -> Self {
        Self::Status {
            status,
            headers: Vec::new(),
            body: json!({"error": {"message": message, "type": "upstream", "code": status}})
                .to_string(),
            content_type: "application/json".into(),
        }
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Self::Status {
            status,
            headers: Vec::new(),
            body: body.into(),
            content_type: content_type.into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Self::Status { headers, .. } | Self::Text { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    pub fn first_byte_delay(mut self, delay: Duration) -> Self {
        if let Self::Text {
            first_byte_delay, ..
        } = &mut self
        {
            *first_byte_delay = delay;
        }
        self
    }

    pub fn chunk_gap(mut self, gap: Duration) -> Self {
        match &mut self {
            Self::Text { chunk_gap, .. } | Self::Events { chunk_gap, .. } => *chunk_gap = gap,
            _ => {}
        }
        self
    }

    pub fn ending(mut self, how: StreamEnd) -> Self {
        if let Self::Text { end, .. } = &mut self {
            *end = how;
        }
        self
    }
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An Ollama model: name, configured `num_ctx`, model maximum.
type OllamaModel = (String, Option<u32>, Option<u32>);

#[derive(Default)]
struct Shared {
    scripts: Mutex<HashMap<String, VecDeque<Script>>>,
    fallback: Mutex<Option<Script>>,
    received: Mutex<Vec<Received>>,
    models: Mutex<Vec<String>>,
    /// Ollama-native models: name, configured `num_ctx`, model maximum.
    ollama: Mutex<Vec<OllamaModel>>,
    /// What `GET /v1/key` answers (OpenRouter's key endpoint).
    key_info: Mutex<Option<Value>>,
    /// When set, requests without `Authorization: Bearer <this>` get a 401.
    required_key: Mutex<Option<String>>,
    /// Connections whose answer is still being produced (for cancellation tests).
    open_streams: Arc<std::sync::atomic::AtomicUsize>,
    /// When set, `GET /v1/models` fails with this status.
    models_failure: Mutex<Option<u16>>,
}

pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .route("/v1/key", get(key_info))
            .route("/api/tags", get(ollama_tags))
            .route("/api/show", post(ollama_show))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request for `model` gets `script`.
    pub fn on(&self, model: &str, script: Script) -> &Self {
        self.on_sequence(model, vec![script])
    }

    /// Requests for `model` get these answers in turn; the last one repeats.
    pub fn on_sequence(&self, model: &str, scripts: Vec<Script>) -> &Self {
        self.shared
            .scripts
            .lock()
            .unwrap()
            .insert(model.to_string(), scripts.into());
        self.shared.models.lock().unwrap().push(model.to_string());
        self
    }

    /// The answer for models without a script.
    pub fn otherwise(&self, script: Script) -> &Self {
        *self.shared.fallback.lock().unwrap() = Some(script);
        self
    }

    /// What OpenRouter's key endpoint (`GET /v1/key`) answers.
    pub fn key_info(&self, info: Value) -> &Self {
        *self.shared.key_info.lock().unwrap() = Some(info);
        self
    }

    /// Refuse requests that do not carry this bearer key, like a real provider.
    pub fn require_bearer(&self, key: &str) -> &Self {
        *self.shared.required_key.lock().unwrap() = Some(key.to_string());
        self
    }

    /// What `GET /v1/models` lists, in addition to scripted models.
    pub fn list_models(&self, ids: &[&str]) -> &Self {
        self.shared
            .models
            .lock()
            .unwrap()
            .extend(ids.iter().map(|s| s.to_string()));
        self
    }

    /// `GET /v1/models` lists exactly these from now on (scripted models still answer).
    pub fn replace_model_list(&self, ids: &[&str]) -> &Self {
        *self.shared.models.lock().unwrap() = ids.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `GET /v1/models` fails with `status` (`None`: lists again).
    pub fn fail_model_list(&self, status: Option<u16>) -> &Self {
        *self.shared.models_failure.lock().unwrap() = status;
        self
    }

    /// A model listed by Ollama's native `/api/tags`, described by `/api/show`.
    pub fn ollama_model(&self, name: &str, num_ctx: Option<u32>, maximum: Option<u32>) -> &Self {
        self.shared
            .ollama
            .lock()
            .unwrap()
            .push((name.to_string(), num_ctx, maximum));
        self
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn chat_requests(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .collect()
    }

    pub fn open_streams(&self) -> usize {
        self.shared
            .open_streams
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let required = shared.required_key.lock().unwrap().clone()?;
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (presented != format!("Bearer {required}")).then(|| {
        json_response(401, &json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}).to_string())
    })
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.received.lock().unwrap().push(Received {
        path: "/v1/models".into(),
        headers: headers.clone(),
        body: Bytes::new(),
    });
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    if let Some(status) = *shared.models_failure.lock().unwrap() {
        return json_response(status, r#"{"error":{"message":"model list unavailable"}}"#);
    }
    let data: Vec<Value> = shared
        .models
        .lock()
        .unwrap()
        .iter()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "fake"}))
        .collect();
    axum::response::IntoResponse::into_response(axum::Json(json!({"object": "list", "data": data})))
}

async fn key_info(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.received.lock().unwrap().push(Received {
        path: "/v1/key".into(),
        headers,
        body: Bytes::new(),
    });
    match shared.key_info.lock().unwrap().clone() {
        Some(info) => json_response(200, &info.to_string()),
        None => json_response(404, &json!({"error": "no key info"}).to_string()),
    }
}

async fn ollama_tags(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> axum::Json<Value> {
    shared.received.lock().unwrap().push(Received {
        path: "/api/tags".into(),
        headers,
        body: Bytes::new(),
    });
    let models: Vec<Value> = shared
        .ollama
        .lock()
        .unwrap()
        .iter()
        .map(|(name, _, _)| json!({"name": name, "model": name, "size": 1}))
        .collect();
    axum::Json(json!({"models": models}))
}

async fn ollama_show(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.received.lock().unwrap().push(Received {
        path: "/api/show".into(),
        headers,
        body: body.clone(),
    });
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let name = request["model"].as_str().unwrap_or("");
    let found = shared
        .ollama
        .lock()
        .unwrap()
        .iter()
        .find(|(n, _, _)| n == name)
        .cloned();
    match found {
        Some((_, num_ctx, maximum)) => {
            let parameters = num_ctx.map(|n| format!("num_ctx {n}")).unwrap_or_default();
            json_response(
                200,
                &json!({"parameters": parameters, "model_info": {"llama.context_length": maximum}})
                    .to_string(),
            )
        }
        None => json_response(404, &json!({"error": "model not found"}).to_string()),
    }
}

fn next_script(shared: &Shared, model: &str) -> Option<Script> {
    let mut scripts = shared.scripts.lock().unwrap();
    match scripts.get_mut(model) {
        Some(queue) if queue.len() > 1 => queue.pop_front(),
        Some(queue) => queue.front().cloned(),
        None => shared.fallback.lock().unwrap().clone(),
    }
}

/// Decrements the open-stream count when the response body is dropped.
struct OpenGuard(Arc<std::sync::atomic::AtomicUsize>);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.received.lock().unwrap().push(Received {
        path: "/v1/chat/completions".into(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("").to_string();
    let stream = request["stream"].as_bool().unwrap_or(false);
    let Some(script) = next_script(&shared, &model) else {
        return json_response(
            404,
            &json!({"error": {"message": format!("model {model} not found")}}).to_string(),
        );
    };
    shared
        .open_streams
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let guard = OpenGuard(shared.open_streams.clone());
    match script {
        Script::Hang => {
            let _guard = guard;
            std::future::pending::<()>().await;
            unreachable!()
        }
        Script::Status {
            status,
            headers,
            body,
            content_type,
        } => {
            drop(guard);
            let mut response = Response::builder()
                .status(status)
                .header("content-type", content_type);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response.body(Body::from(body)).unwrap()
        }
        Script::Text {
            text,
            first_byte_delay,
            chunk_gap,
            end,
            headers,
        } => {
            tokio::time::sleep(first_byte_delay).await;
            let mut response = if stream {
                stream_text(model, text, chunk_gap, end, guard)
            } else {
                drop(guard);
                json_response(200, &completion(&model, &text).to_string())
            };
            for (name, value) in headers {
                response.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    axum::http::HeaderValue::from_str(&value).unwrap(),
                );
            }
            response
        }
        Script::EventsThenClose { events } => {
            let chunks: Vec<std::io::Result<Bytes>> = events
                .into_iter()
                .map(|e| Ok(Bytes::from(format!("data: {e}\n\n"))))
                .collect();
            let body =
                futures_util::stream::iter(chunks).chain(futures_util::stream::once(async move {
                    drop(guard);
                    Ok(Bytes::new())
                }));
            sse_response(Body::from_stream(body))
        }
        Script::Events { events, chunk_gap } => {
            let chunks = events
                .into_iter()
                .map(|e| format!("data: {e}\n\n"))
                .chain(std::iter::once("data: [DONE]\n\n".to_string()));
            let body = futures_util::stream::iter(chunks).then(move |chunk| async move {
                tokio::time::sleep(chunk_gap).await;
                Ok::<_, std::io::Error>(Bytes::from(chunk))
            });
            let body = body.chain(futures_util::stream::once(async move {
                drop(guard);
                Ok(Bytes::new())
            }));
            sse_response(Body::from_stream(body))
        }
    }
}

fn json_response(status: u16, body: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn sse_response(body: Body) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

pub fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

pub fn chunk(model: &str, content: Option<&str>, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": content.map_or(json!({}), |c| json!({"content": c})), "finish_reason": finish}]
    })
}

fn stream_text(
    model: String,
    text: String,
    gap: Duration,
    end: StreamEnd,
    guard: OpenGuard,
) -> Response {
    let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
    let body = async_stream_body(model, words, gap, end, guard);
    sse_response(Body::from_stream(body))
}

fn async_stream_body(
    model: String,
    words: Vec<String>,
    gap: Duration,
    end: StreamEnd,
    guard: OpenGuard,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    enum Step {
        Word(usize),
        End,
        Finished,
    }
    futures_util::stream::unfold((Step::Word(0), guard), move |(step, guard)| {
        let model = model.clone();
        let words = words.clone();
        let end = end.clone();
        async move {
            match step {
                Step::Word(i) if i < words.len() => {
                    if i > 0 {
                        tokio::time::sleep(gap).await;
                    }
                    let event = chunk(&model, Some(&words[i]), None);
                    Some((
                        Ok(Bytes::from(format!("data: {event}\n\n"))),
                        (Step::Word(i + 1), guard),
                    ))
                }
                Step::Word(_) | Step::End => match end {
                    StreamEnd::Done => {
                        let last = chunk(&model, None, Some("stop"));
                        Some((
                            Ok(Bytes::from(format!("data: {last}\n\ndata: [DONE]\n\n"))),
                            (Step::Finished, guard),
                        ))
                    }
                    StreamEnd::Drop => {
                        // Let the last chunk leave before the abort discards hyper's buffer.
                        tokio::time::sleep(gap).await;
                        Some((
                            Err(std::io::Error::other("dropped")),
                            (Step::Finished, guard),
                        ))
                    }
                    StreamEnd::Truncate => None,
                    StreamEnd::Hang => {
                        std::future::pending::<()>().await;
                        None
                    }
                },
                Step::Finished => None,
            }
        }
    })
}
