//! Pure builders and parsers for Composite requests (`POST /composite`) carrying queries
//! and sObject Collections writes. A Composite request is one API call however many
//! subrequests it holds; at most 5 of them may be queries or collections
//! ([REST] resources-composite-composite), hence [`crate::COMPOSITE_MAX_HEAVY_SUBREQUESTS`].

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::ApiVersion;
use crate::error::Error;
use crate::types::{CollectionWrite, Record};

/// One subrequest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubRequest {
    pub method: &'static str,
    /// Must include `/services/data/vXX.X`.
    pub url: String,
    pub reference_id: String,
    pub body: Option<Value>,
    pub http_headers: Vec<(&'static str, &'static str)>,
}

/// `/services/data/v62.0/query?q=<form-urlencoded SOQL>` (`+` for spaces, as Salesforce's
/// own examples and django-salesforce's recorded requests show).
pub(crate) fn query_path(version: ApiVersion, soql: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
    format!("{}/query?q={q}", version.data_path())
}

/// A query (or "query more" page) as subrequest `reference_id`.
pub(crate) fn query_subrequest(url: String, reference_id: String) -> SubRequest {
    SubRequest {
        method: "GET",
        url,
        reference_id,
        body: None,
        http_headers: Vec::new(),
    }
}

/// A collections create/update/upsert as a subrequest; `allOrNone:false` so one bad record
/// does not roll back the others.
pub(crate) fn write_subrequest(
    version: ApiVersion,
    op: &CollectionWrite,
    reference_id: String,
    allow_duplicate_save: bool,
) -> SubRequest {
    SubRequest {
        method: op.action.method(),
        url: match &op.action {
            crate::types::WriteAction::Upsert {
                object,
                external_id,
            } => format!(
                "{}/composite/sobjects/{object}/{external_id}",
                version.data_path()
            ),
            _ => format!("{}/composite/sobjects", version.data_path()),
        },
        reference_id,
        body: Some(collection_body(&op.records)),
        http_headers: if allow_duplicate_save {
            vec![(crate::DUPLICATE_RULE_HEADER, "allowSave=true")]
        } else {
            Vec::new()
        },
    }
}

fn collection_body(records: &[Record]) -> Value {
    json!({ "allOrNone": false, "records": records })
}

/// `{"allOrNone":false,"compositeRequest":[...]}`: independent subrequests, so one failing
/// does not halt or roll back the others.
pub(crate) fn composite_body(subs: &[SubRequest]) -> Value {
    let reqs: Vec<Value> = subs
        .iter()
        .map(|s| {
            let mut o = serde_json::Map::new();
            o.insert("method".into(), Value::from(s.method));
            o.insert("url".into(), Value::from(s.url.clone()));
            o.insert("referenceId".into(), Value::from(s.reference_id.clone()));
            if let Some(b) = &s.body {
                o.insert("body".into(), b.clone());
            }
            if !s.http_headers.is_empty() {
                let h: serde_json::Map<String, Value> = s
                    .http_headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                    .collect();
                o.insert("httpHeaders".into(), Value::Object(h));
            }
            Value::Object(o)
        })
        .collect();
    json!({ "allOrNone": false, "compositeRequest": reqs })
}

/// One subresponse.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct SubResponse {
    #[serde(default)]
    pub body: Value,
    #[serde(rename = "httpStatusCode")]
    pub http_status_code: u16,
    #[serde(rename = "referenceId")]
    pub reference_id: String,
}

impl SubResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.http_status_code)
    }

    /// The subrequest's failure as a typed error (the body is the REST error array).
    pub fn error(&self) -> Error {
        crate::client::error_from_json(self.http_status_code, &self.body).unwrap_or_else(|| {
            Error::UnexpectedResponse {
                status: self.http_status_code,
                content_type: "application/json".into(),
                snippet: crate::client::snippet(self.body.to_string().as_bytes()),
            }
        })
    }
}

/// Parses `{"compositeResponse":[...]}` and returns the subresponses in the order of
/// `subs`, matched by `referenceId`.
pub(crate) fn parse_composite_response(
    subs: &[SubRequest],
    body: &[u8],
) -> Result<Vec<SubResponse>, Error> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "compositeResponse")]
        composite_response: Vec<SubResponse>,
    }
    let env: Envelope = serde_json::from_slice(body)
        .map_err(|e| Error::Decode(format!("composite response: {e}")))?;
    let mut by_ref = env.composite_response;
    subs.iter()
        .map(|s| {
            let pos = by_ref
                .iter()
                .position(|r| r.reference_id == s.reference_id)
                .ok_or_else(|| {
                    Error::Decode(format!(
                        "composite response lacks subrequest `{}`",
                        s.reference_id
                    ))
                })?;
            Ok(by_ref.swap_remove(pos))
        })
        .collect()
}

/// A query result page.
#[derive(Debug, Deserialize)]
pub(crate) struct QueryPage {
    pub done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub next_records_url: Option<String>,
    #[serde(default)]
    pub records: Vec<Record>,
}

impl QueryPage {
    pub fn parse(v: Value) -> Result<QueryPage, Error> {
        let p: QueryPage =
            serde_json::from_value(v).map_err(|e| Error::Decode(format!("query result: {e}")))?;
        if !p.done && p.next_records_url.is_none() {
            return Err(Error::Decode(
                "query result not done but without nextRecordsUrl".into(),
            ));
        }
        Ok(p)
    }

    /// The next page's path, when there is one.
    pub fn next(&self) -> Option<&str> {
        if self.done {
            None
        } else {
            self.next_records_url.as_deref()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::WriteAction;

    #[test]
    fn query_path_encodes_soql() {
        let v = ApiVersion::new(62).unwrap();
        assert_eq!(
            query_path(v, "SELECT Id FROM Lead WHERE Email = 'a+b@x.com'"),
            "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead+WHERE+Email+%3D+%27a%2Bb%40x.com%27"
        );
    }

    #[test]
    fn composite_body_shape() {
        let v = ApiVersion::new(62).unwrap();
        let mut rec = Record::new();
        rec.insert("attributes".into(), json!({"type": "Lead"}));
        rec.insert("Id".into(), json!("00Q000000000001AAA"));
        let op = CollectionWrite {
            action: WriteAction::Update,
            records: vec![rec],
        };
        let body = composite_body(&[
            query_subrequest(query_path(v, "SELECT Id FROM Lead"), "q0".into()),
            write_subrequest(v, &op, "w1".into(), true),
        ]);
        assert_eq!(
            body,
            json!({"allOrNone": false, "compositeRequest": [
                {"method": "GET", "url": "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead", "referenceId": "q0"},
                {"method": "PATCH", "url": "/services/data/v62.0/composite/sobjects", "referenceId": "w1",
                 "body": {"allOrNone": false, "records": [{"attributes": {"type": "Lead"}, "Id": "00Q000000000001AAA"}]},
                 "httpHeaders": {"Sforce-Duplicate-Rule-Header": "allowSave=true"}}
            ]})
        );
    }

    #[test]
    fn an_upsert_names_its_object_and_external_id_field_in_the_url() {
        let v = ApiVersion::new(62).unwrap();
        let mut rec = Record::new();
        rec.insert("attributes".into(), json!({"type": "Lead"}));
        rec.insert("TrailSpark_Person_Key__c".into(), json!("ada@example.com"));
        let op = CollectionWrite {
            action: WriteAction::Upsert {
                object: "Lead".into(),
                external_id: "TrailSpark_Person_Key__c".into(),
            },
            records: vec![rec],
        };
        let sub = write_subrequest(v, &op, "w0".into(), false);
        assert_eq!(sub.method, "PATCH");
        assert_eq!(
            sub.url,
            "/services/data/v62.0/composite/sobjects/Lead/TrailSpark_Person_Key__c"
        );
        assert_eq!(sub.body.unwrap()["allOrNone"], json!(false));
        assert!(op.action.may_create() && !op.action.resend_may_duplicate());
    }

    #[test]
    fn subresponses_matched_by_reference_id() {
        let subs = vec![
            query_subrequest("/a".into(), "q0".into()),
            query_subrequest("/b".into(), "q1".into()),
        ];
        let body = br#"{"compositeResponse":[
            {"body":[{"errorCode":"MALFORMED_QUERY","message":"bad"}],"httpHeaders":{},"httpStatusCode":400,"referenceId":"q1"},
            {"body":{"totalSize":0,"done":true,"records":[]},"httpHeaders":{},"httpStatusCode":200,"referenceId":"q0"}]}"#;
        let r = parse_composite_response(&subs, body).unwrap();
        assert_eq!(r[0].reference_id, "q0");
        assert!(r[0].is_success());
        assert_eq!(r[1].error().error_code(), Some("MALFORMED_QUERY"));
        assert!(parse_composite_response(&subs[..1], br#"{"compositeResponse":[]}"#).is_err());
    }

    #[test]
    fn query_page_requires_next_url_when_not_done() {
        assert!(QueryPage::parse(json!({"totalSize":3,"done":false,"records":[]})).is_err());
        let p = QueryPage::parse(json!({"totalSize":3,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01g-2","records":[{"Id":"1"}]})).unwrap();
        assert_eq!(p.next(), Some("/services/data/v62.0/query/01g-2"));
        assert_eq!(p.records.len(), 1);
    }
}
