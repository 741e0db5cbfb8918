//! Shared helpers of the org/data-API tests: a started org and a small HTTP client.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sfsim::{Options, RunningOrg};

pub const V: &str = "v62.0";

pub struct Org {
    pub org: RunningOrg,
    pub http: reqwest::Client,
    pub token: String,
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// `errorCode` of the first error of an error array.
    pub fn code(&self) -> &str {
        self.body[0]["errorCode"].as_str().unwrap_or("")
    }
}

pub async fn org() -> Org {
    org_with(Options::default()).await
}

pub async fn org_with(opts: Options) -> Org {
    let org = sfsim::start(opts).await.expect("start org");
    let token = org.access_token();
    Org {
        org,
        http: reqwest::Client::new(),
        token,
    }
}

impl Org {
    pub fn data(&self, path: &str) -> String {
        format!("{}/services/data/{V}{path}", self.org.url())
    }

    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut rb = self.http.request(method, url).bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, &self.data(path), None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, &self.data(path), Some(body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, &self.data(path), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, &self.data(path), None, &[]).await
    }

    pub async fn query(&self, soql: &str) -> Reply {
        let url = format!("{}?q={}", self.data("/query"), urlencode(soql));
        self.call(Method::GET, &url, None, &[]).await
    }

    /// Field value of a record read through the control plane (no API call).
    pub fn field(&self, id: &str, name: &str) -> Value {
        self.org.control().record(id).expect("record")[name].clone()
    }

    /// First record id matching SOQL, via the control plane.
    pub fn first_id(&self, soql: &str) -> String {
        self.org.control().query(soql).expect("query")[0]["Id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Asserts `actual` has every key of `golden` with the same JSON type, recursively
/// (arrays compare their first elements). Values are not compared.
pub fn assert_shape(golden: &Value, actual: &Value, path: &str) {
    match (golden, actual) {
        (Value::Object(g), Value::Object(a)) => {
            for (k, gv) in g {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} missing in {actual}"));
                assert_shape(gv, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(a)) => {
            if let (Some(g0), Some(a0)) = (g.first(), a.first()) {
                assert_shape(g0, a0, &format!("{path}[0]"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (g, a) => panic!("{path}: golden {g} vs actual {a}"),
    }
}

pub fn golden(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/goldens/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("golden file");
    serde_json::from_str(&text).expect("golden json")
}
