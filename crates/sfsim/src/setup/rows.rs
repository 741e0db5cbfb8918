//! SOQL over the in-memory rows of the setup objects (`CustomField` over Tooling;
//! `PermissionSet`, `FieldPermissions`, `PermissionSetAssignment` over the data API),
//! reusing sfsim's SOQL parser, checker and evaluator. Parent relationships
//! (`Parent.Name`, `PermissionSet.Name`) resolve through `parent`.

use serde_json::{Map, Value, json};

use crate::org::Fields;
use crate::schema::ObjectDef;
use crate::soql::{self, Query};

/// Where an object's records live, as REST URLs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Data,
    Tooling,
}

impl Api {
    fn base(self, version: &str) -> String {
        match self {
            Api::Data => format!("/services/data/v{version}/sobjects"),
            Api::Tooling => format!("/services/data/v{version}/tooling/sobjects"),
        }
    }
}

/// A record's `attributes`.
pub fn attributes(api: Api, object: &str, rec: &Fields, version: &str) -> Value {
    let id = rec.get("Id").and_then(Value::as_str).unwrap_or("");
    json!({"type": object, "url": format!("{}/{object}/{id}", api.base(version))})
}

/// A record by id among the setup rows: its object and fields.
pub type ParentLookup<'a> = dyn Fn(&str) -> Option<(&'a ObjectDef, &'a Fields)> + 'a;

fn value_at(def: &ObjectDef, rec: &Fields, path: &[String], parent: &ParentLookup<'_>) -> Value {
    match path {
        [name] => rec.get(name).cloned().unwrap_or(Value::Null),
        [rel, name] => def
            .relationship(rel)
            .and_then(|rf| rec.get(&rf.name))
            .and_then(Value::as_str)
            .and_then(parent)
            .and_then(|(_, p)| p.get(name).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Runs a checked query over `rows` of `def`; returns the rows as the REST API renders
/// them (`COUNT()` queries: the count and no rows).
pub fn run(
    q: &Query,
    def: &ObjectDef,
    rows: &[Fields],
    parent: &ParentLookup<'_>,
    api: Api,
    version: &str,
) -> (usize, Vec<Value>) {
    let mut hits: Vec<&Fields> = rows
        .iter()
        .filter(|r| {
            q.filter
                .as_ref()
                .is_none_or(|f| soql::eval(f, &|p: &[String]| value_at(def, r, p, parent)))
        })
        .collect();
    if !q.order_by.is_empty() {
        hits.sort_by(|a, b| {
            soql::order_rows(
                &q.order_by,
                &|p: &[String]| value_at(def, a, p, parent),
                &|p: &[String]| value_at(def, b, p, parent),
            )
        });
    }
    let hits: Vec<&Fields> = hits
        .into_iter()
        .skip(q.offset.unwrap_or(0))
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    if q.is_count() {
        return (hits.len(), Vec::new());
    }
    let rendered: Vec<Value> = hits
        .iter()
        .map(|r| render(def, r, q, parent, api, version))
        .collect();
    (rendered.len(), rendered)
}

fn render(
    def: &ObjectDef,
    rec: &Fields,
    q: &Query,
    parent: &ParentLookup<'_>,
    api: Api,
    version: &str,
) -> Value {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        attributes(api, &def.name, rec, version),
    );
    for f in q.fields() {
        match f.path.as_slice() {
            [name] => {
                out.insert(name.clone(), rec.get(name).cloned().unwrap_or(Value::Null));
            }
            [rel, name] => {
                let p = def
                    .relationship(rel)
                    .and_then(|rf| rec.get(&rf.name))
                    .and_then(Value::as_str)
                    .and_then(parent);
                match p {
                    Some((pdef, prec)) => {
                        let entry = out.entry(rel.clone()).or_insert_with(|| {
                            let mut m = Map::new();
                            m.insert(
                                "attributes".into(),
                                attributes(api, &pdef.name, prec, version),
                            );
                            Value::Object(m)
                        });
                        if let Value::Object(m) = entry {
                            m.insert(name.clone(), prec.get(name).cloned().unwrap_or(Value::Null));
                        }
                    }
                    None => {
                        out.insert(rel.clone(), Value::Null);
                    }
                }
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// A record with all its fields (`GET .../sobjects/{object}/{id}`).
pub fn render_record(def: &ObjectDef, rec: &Fields, api: Api, version: &str) -> Value {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        attributes(api, &def.name, rec, version),
    );
    for f in &def.fields {
        out.insert(
            f.name.clone(),
            rec.get(&f.name).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(out)
}

/// Parses and checks `text` against `defs` (case-insensitive object names).
pub fn parse<'a>(
    text: &str,
    defs: &'a [ObjectDef],
) -> Result<(Query, &'a ObjectDef), soql::SoqlError> {
    let q = soql::parse(text)?;
    soql::check(q, text, |n| {
        defs.iter().find(|d| d.name.eq_ignore_ascii_case(n))
    })
}
