//! A tiny fake Salesforce on 127.0.0.1 (random port) that records every request. It issues
//! tokens `tok-1`, `tok-2`, ... at `/services/oauth2/token`, answers data calls made with
//! an unknown or expired token with 401 `INVALID_SESSION_ID`, and lets each test answer
//! the rest with a closure.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use salesforce::{ClientConfig, LoginUrl, RetryPolicy, SecretString, TokenSource};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }

    /// Method, URI, the headers that matter on the wire, and the JSON body: what the
    /// snapshots pin.
    pub fn summary(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for name in [
            "content-type",
            "if-modified-since",
            "sforce-duplicate-rule-header",
        ] {
            if let Some(v) = self.header(name) {
                headers.insert(name.into(), Value::from(v));
            }
        }
        json!({"method": self.method, "uri": self.uri, "headers": headers, "body": self.json()})
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json;charset=UTF-8".into())],
            body: v.to_string(),
        }
    }

    pub fn with_header(mut self, k: &'static str, v: &str) -> Reply {
        self.headers.push((k, v.to_owned()));
        self
    }
}

type Responder = Box<dyn Fn(&Captured) -> Reply + Send + Sync>;

struct Shared {
    url: Mutex<String>,
    requests: Mutex<Vec<Captured>>,
    valid_tokens: Mutex<HashSet<String>>,
    issued: AtomicU64,
    token_delay: Mutex<Duration>,
    token_error: Mutex<Option<Reply>>,
    data_delay: Mutex<Duration>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    responder: Responder,
}

#[derive(Clone)]
pub struct Fake {
    pub url: String,
    shared: Arc<Shared>,
}

impl Fake {
    pub async fn start(responder: impl Fn(&Captured) -> Reply + Send + Sync + 'static) -> Fake {
        let shared = Arc::new(Shared {
            url: Mutex::new(String::new()),
            requests: Mutex::new(Vec::new()),
            valid_tokens: Mutex::new(HashSet::new()),
            issued: AtomicU64::new(0),
            token_delay: Mutex::new(Duration::ZERO),
            token_error: Mutex::new(None),
            data_delay: Mutex::new(Duration::ZERO),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            responder: Box::new(responder),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        *shared.url.lock().unwrap() = url.clone();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { url, shared }
    }

    /// A refresh-token configuration pointing at this fake, with fast retries.
    pub fn config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new(TokenSource::RefreshToken {
            login_url: LoginUrl::parse(&self.url).unwrap(),
            client_id: "cid".into(),
            client_secret: Some(SecretString::from("csecret")),
            refresh_token: SecretString::from("rtok"),
        });
        cfg.retry = RetryPolicy {
            max_attempts: 4,
            backoff: domain::Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
        };
        cfg
    }

    /// Every request except token requests, in arrival order.
    pub fn data_requests(&self) -> Vec<Captured> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path() != "/services/oauth2/token")
            .cloned()
            .collect()
    }

    pub fn token_requests(&self) -> Vec<Captured> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path() == "/services/oauth2/token")
            .cloned()
            .collect()
    }

    /// Invalidates every token issued so far (like a session timeout).
    pub fn expire_tokens(&self) {
        self.shared.valid_tokens.lock().unwrap().clear();
    }

    pub fn set_token_delay(&self, d: Duration) {
        *self.shared.token_delay.lock().unwrap() = d;
    }

    /// Data calls wait this long before answering (to observe concurrency).
    pub fn set_data_delay(&self, d: Duration) {
        *self.shared.data_delay.lock().unwrap() = d;
    }

    /// The most data calls that were in flight at the same time.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn fail_token_requests(&self, reply: Reply) {
        *self.shared.token_error.lock().unwrap() = Some(reply);
    }
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = Captured {
        method: method.to_string(),
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
    };
    s.requests.lock().unwrap().push(c.clone());
    let reply = if c.path() == "/services/oauth2/token" {
        let delay = *s.token_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if let Some(r) = s.token_error.lock().unwrap().as_ref() {
            Reply {
                status: r.status,
                headers: r.headers.clone(),
                body: r.body.clone(),
            }
        } else {
            let n = s.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let tok = format!("tok-{n}");
            s.valid_tokens.lock().unwrap().insert(tok.clone());
            let url = s.url.lock().unwrap().clone();
            Reply::json(
                200,
                json!({"access_token": tok, "instance_url": url, "id": format!("{url}/id/00D/005"),
                "token_type": "Bearer", "issued_at": "1700000000000", "signature": "x"}),
            )
        }
    } else {
        let bearer = c.header("authorization").unwrap_or_default();
        let ok = bearer
            .strip_prefix("Bearer ")
            .is_some_and(|t| s.valid_tokens.lock().unwrap().contains(t));
        if ok {
            let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            s.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let delay = *s.data_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
            (s.responder)(&c)
        } else {
            Reply::json(
                401,
                json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
            )
        }
    };
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// Answers Composite requests like Salesforce, subrequest by subrequest:
/// - query: one record echoing the SOQL (`{"q": ...}`); SOQL containing `PAGED` has a
///   second page; SOQL containing `BADFIELD` fails with 400 `INVALID_FIELD`;
/// - collections: one save result per record, failing records whose `LastName` is `FAIL`;
///   records of type `Nope` make the whole subrequest fail with 400 `INVALID_TYPE`.
pub fn composite_reply(c: &Captured) -> Reply {
    let body = c.json();
    let subs = body["compositeRequest"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut next_id = 1;
    for sub in subs {
        let url = sub["url"].as_str().unwrap_or_default().to_owned();
        let reference_id = sub["referenceId"].clone();
        let (status, body) = if let Some((_, q)) = url.split_once("?q=") {
            let soql: String = url::form_urlencoded::parse(format!("q={q}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned();
            if soql.contains("BADFIELD") {
                (
                    400,
                    json!([{"message": "No such column 'BADFIELD' on entity 'Lead'.", "errorCode": "INVALID_FIELD"}]),
                )
            } else if soql.contains("PAGED") {
                (
                    200,
                    json!({"totalSize": 2, "done": false, "nextRecordsUrl": "/services/data/v62.0/query/01gPAGED-1",
                    "records": [{"attributes": {"type": "Lead"}, "q": soql, "page": 1}]}),
                )
            } else {
                (
                    200,
                    json!({"totalSize": 1, "done": true, "records": [{"attributes": {"type": "Lead"}, "q": soql}]}),
                )
            }
        } else if url.ends_with("/query/01gPAGED-1") {
            (
                200,
                json!({"totalSize": 2, "done": true, "records": [{"attributes": {"type": "Lead"}, "page": 2}]}),
            )
        } else if url.ends_with("/composite/sobjects") {
            let records = sub["body"]["records"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if records.iter().any(|r| r["attributes"]["type"] == "Nope") {
                (
                    400,
                    json!([{"message": "sObject type 'Nope' is not supported.", "errorCode": "INVALID_TYPE"}]),
                )
            } else {
                let results: Vec<Value> = records
                    .iter()
                    .map(|r| {
                        if r["LastName"] == "FAIL" {
                            json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Company]", "fields": ["Company"]}]})
                        } else {
                            let id = r.get("Id").cloned().unwrap_or_else(|| {
                                next_id += 1;
                                Value::from(format!("00Q00000000000{next_id:02}AA"))
                            });
                            json!({"id": id, "success": true, "errors": []})
                        }
                    })
                    .collect();
                (200, Value::Array(results))
            }
        } else {
            (
                404,
                json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]),
            )
        };
        out.push(json!({"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference_id}));
    }
    Reply::json(200, json!({"compositeResponse": out}))
}
