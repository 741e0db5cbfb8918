//! SOQL over REST: `/query` and `/queryAll` (docs/salesforce.md#query), pages of
//! `batchSize` rows, and the open cursors behind `nextRecordsUrl` (query more). Parsing
//! and evaluation are the `soql` module's; this is the paging and the wire shape.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{Ctx, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, MIN_BATCH_SIZE, Req, Resp, err};
use crate::control::CallKind;
use crate::ids;
use crate::soql;

/// Query cursors kept for `nextRecordsUrl`; older ones expire (INVALID_QUERY_LOCATOR).
const MAX_CURSORS: usize = 200;

struct Cursor {
    rows: Arc<Vec<Value>>,
    batch: usize,
}

/// Open query cursors (the `01g…` locators of `nextRecordsUrl`).
#[derive(Default)]
pub struct Cursors {
    map: HashMap<String, Cursor>,
    order: VecDeque<String>,
    counter: u64,
}

impl Cursors {
    fn open(&mut self, rows: Arc<Vec<Value>>, batch: usize) -> String {
        self.counter += 1;
        let id = ids::mint("01g", self.counter);
        self.map.insert(id.clone(), Cursor { rows, batch });
        self.order.push_back(id.clone());
        while self.order.len() > MAX_CURSORS {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        id
    }
}

fn batch_size(req: &Req) -> usize {
    req.batch_size
        .unwrap_or(DEFAULT_BATCH_SIZE)
        .clamp(MIN_BATCH_SIZE, MAX_BATCH_SIZE)
}

/// One page to serve out of a query's rows.
struct Page {
    kind: CallKind,
    total: usize,
    rows: Arc<Vec<Value>>,
    offset: usize,
    batch: usize,
    /// The cursor the rows came from (query more), or none for a fresh query.
    locator: Option<String>,
}

fn query_page(ctx: &mut Ctx<'_>, req: &Req, page_req: Page) -> Resp {
    let Page {
        kind,
        total,
        rows,
        offset,
        batch,
        locator,
    } = page_req;
    let end = (offset + batch).min(rows.len());
    let page: Vec<Value> = rows
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let n = page.len();
    let mut body = Map::new();
    body.insert("totalSize".into(), json!(total));
    let done = end >= rows.len();
    body.insert("done".into(), json!(done));
    if !done {
        let loc = match locator {
            Some(l) => l,
            None => ctx.st.cursors.open(rows, batch),
        };
        body.insert(
            "nextRecordsUrl".into(),
            json!(format!("/services/data/v{}/query/{loc}-{end}", req.version)),
        );
    }
    body.insert("records".into(), Value::Array(page));
    Resp::json(200, kind, Value::Object(body)).records(n)
}

pub(super) fn query(ctx: &mut Ctx<'_>, req: &Req, all_rows: bool) -> Resp {
    let kind = CallKind::Query;
    let Some(text) = req.param("q").map(str::to_owned) else {
        return err(
            400,
            kind,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let parsed = soql::parse(&text)
        .and_then(|q| soql::check(q, &text, |n| ctx.st.org.object(n)).map(|(q, _)| q));
    let q = match parsed {
        Ok(q) => q,
        Err(e) => {
            let mut r = err(400, kind, e.code.as_str(), e.message);
            r.soql = Some(text);
            return r;
        }
    };
    let (total, rows) = ctx.st.org.run_query(&q, all_rows, &req.version);
    let mut r = if q.is_count() {
        Resp::json(
            200,
            kind,
            json!({"totalSize": total, "done": true, "records": []}),
        )
    } else {
        let batch = batch_size(req);
        let page = Page {
            kind,
            total,
            rows: Arc::new(rows),
            offset: 0,
            batch,
            locator: None,
        };
        query_page(ctx, req, page)
    };
    r.soql = Some(text);
    r
}

pub(super) fn query_more(ctx: &mut Ctx<'_>, req: &Req, locator: &str) -> Resp {
    let kind = CallKind::QueryMore;
    let invalid = || err(400, kind, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((loc, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let Some(cursor) = ctx.st.cursors.map.get(loc) else {
        return invalid();
    };
    let (rows, batch) = (Arc::clone(&cursor.rows), cursor.batch);
    if offset > rows.len() {
        return invalid();
    }
    let total = rows.len();
    query_page(
        ctx,
        req,
        Page {
            kind,
            total,
            rows,
            offset,
            batch,
            locator: Some(loc.to_owned()),
        },
    )
}
