//! An ingest body split into its items without building its tree: the array is walked
//! item by item, each kept as its raw JSON text (a slice of the body), the item limit
//! checked as the items are counted, and an item parsed only once its size is known to be
//! within [`EVALUATION_MAX_BYTES`]. What a body may cost in memory is then the body itself
//! plus one item's tree, whatever it holds.

use std::fmt;

use axum::body::Body;
use domain::evaluation::{EVALUATION_MAX_BYTES, too_large};
use domain::{Evaluation, FieldError};
use futures::StreamExt as _;
use serde::Deserializer as _;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::MAX_BATCH;
use crate::error::ApiError;

/// Reads a body of at most `limit` bytes into one buffer sized from its announced length:
/// held once (collecting its chunks and joining them would hold it twice).
pub async fn read_body(
    body: Body,
    announced: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::with_capacity(announced.unwrap_or(0).min(limit));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "unreadable_body",
                format!("the body could not be read: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The items of an ingest body: one object, or the elements of an array, as sent.
pub fn split(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let items = (&mut de)
                .deserialize_seq(Items)
                .and_then(|items| de.end().map(|()| items))
                .map_err(malformed)?;
            match items {
                Counted::Within(items) if items.is_empty() => Err(ApiError::bad_request(
                    "empty_batch",
                    "the array holds no evaluation",
                )),
                Counted::Within(items) => Ok(items),
                Counted::Over(n) => Err(ApiError::BadRequest {
                    code: "batch_too_large",
                    message: format!(
                        "a batch holds at most {MAX_BATCH} evaluations; this one has {n}: split it"
                    ),
                    details: vec![json!({"max": MAX_BATCH, "got": n})],
                }),
            }
        }
        Some(b'{') => Ok(vec![serde_json::from_slice(body).map_err(malformed)?]),
        _ => {
            // Checked for well-formedness without keeping any of it.
            serde_json::from_slice::<IgnoredAny>(body).map_err(malformed)?;
            let kind = match first {
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                Some(b'n') => "null",
                _ => "a number",
            };
            Err(ApiError::bad_request(
                "invalid_body",
                format!("expected an evaluation object or an array of them, got {kind}"),
            ))
        }
    }
}

/// One item checked and parsed: over [`EVALUATION_MAX_BYTES`] it is refused unread.
pub fn parse_item(raw: &RawValue) -> Result<Evaluation, Vec<FieldError>> {
    let text = raw.get();
    if text.len() > EVALUATION_MAX_BYTES {
        return Err(vec![too_large(
            "(evaluation)",
            text.len(),
            EVALUATION_MAX_BYTES,
        )]);
    }
    // The raw text was checked as JSON when the body was split.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![FieldError::new(
            "(evaluation)",
            format!("is not valid JSON: {e}"),
        )]
    })?;
    Evaluation::parse_json(&value)
}

fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        code: "malformed_json",
        message: format!("the body is not valid JSON: {e}"),
        details: vec![json!({"line": e.line(), "column": e.column()})],
    }
}

/// The array's items, or how many it has when that is over the limit (the rest is only
/// counted, never kept).
enum Counted<'a> {
    Within(Vec<&'a RawValue>),
    Over(usize),
}

struct Items;

impl<'de> Visitor<'de> for Items {
    type Value = Counted<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of evaluations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if items.len() == MAX_BATCH {
                let mut n = items.len() + 1;
                drop(items);
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                return Ok(Counted::Over(n));
            }
            items.push(raw);
        }
        Ok(Counted::Within(items))
    }
}
