//! Reads of the org: running a checked SOQL query (using the email index when the
//! filter pins `Email`), and records as the REST API shows them (`attributes`, parent
//! relationship fields, describe's child relationships).

use serde_json::{Map, Value, json};

use super::{Fields, Org};
use crate::schema::ObjectDef;
use crate::soql::{self, Query};

impl Org {
    /// A field value of a record, following one parent relationship when the path has
    /// two parts.
    fn value_at(&self, def: &ObjectDef, rec: &Fields, path: &[String]) -> Value {
        match path {
            [name] => rec.get(name).cloned().unwrap_or(Value::Null),
            [rel, name] => {
                let Some(rf) = def.relationship(rel) else {
                    return Value::Null;
                };
                match rec
                    .get(&rf.name)
                    .and_then(Value::as_str)
                    .and_then(|id| self.get(id))
                {
                    Some((_, parent)) => parent.get(name).cloned().unwrap_or(Value::Null),
                    None => Value::Null,
                }
            }
            _ => Value::Null,
        }
    }

    /// Runs a checked query; `all_rows` includes deleted records (`queryAll`).
    /// Returns the matching rows rendered as the REST API shows them.
    pub fn run_query(&self, q: &Query, all_rows: bool, version: &str) -> (usize, Vec<Value>) {
        let Some(store) = self.store(&q.from) else {
            return (0, Vec::new());
        };
        let def = &store.def;
        let candidates: Box<dyn Iterator<Item = &Fields>> = match q
            .filter
            .as_ref()
            .and_then(|f| soql::pinned_strings(f, "Email"))
        {
            Some(emails) if def.field("Email").is_some() => {
                let mut ids: Vec<&String> = emails
                    .iter()
                    .filter_map(|e| store.email_index.get(e))
                    .flatten()
                    .collect();
                ids.sort();
                ids.dedup();
                Box::new(ids.into_iter().filter_map(|i| store.records.get(i)))
            }
            _ => Box::new(store.records.values()),
        };
        let mut rows: Vec<&Fields> = candidates
            .filter(|r| all_rows || r.get("IsDeleted") != Some(&Value::Bool(true)))
            .filter(|r| {
                q.filter
                    .as_ref()
                    .is_none_or(|f| soql::eval(f, &|p: &[String]| self.value_at(def, r, p)))
            })
            .collect();
        if !q.order_by.is_empty() {
            rows.sort_by(|a, b| {
                soql::order_rows(
                    &q.order_by,
                    &|p: &[String]| self.value_at(def, a, p),
                    &|p: &[String]| self.value_at(def, b, p),
                )
            });
        }
        let offset = q.offset.unwrap_or(0);
        let rows: Vec<&Fields> = rows
            .into_iter()
            .skip(offset)
            .take(q.limit.unwrap_or(usize::MAX))
            .collect();
        if q.is_count() {
            return (rows.len(), Vec::new());
        }
        let rendered = rows
            .iter()
            .map(|r| self.render_row(def, r, q, version))
            .collect::<Vec<_>>();
        (rendered.len(), rendered)
    }

    fn render_row(&self, def: &ObjectDef, rec: &Fields, q: &Query, version: &str) -> Value {
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(&def.name, rec, version));
        for f in q.fields() {
            match f.path.as_slice() {
                [name] => {
                    out.insert(name.clone(), rec.get(name).cloned().unwrap_or(Value::Null));
                }
                [rel, name] => {
                    let parent = def
                        .relationship(rel)
                        .and_then(|rf| rec.get(&rf.name))
                        .and_then(Value::as_str)
                        .and_then(|id| self.get(id));
                    match parent {
                        Some((pdef, p)) => {
                            let entry = out.entry(rel.clone()).or_insert_with(|| {
                                let mut m = Map::new();
                                m.insert("attributes".into(), attributes(&pdef.name, p, version));
                                Value::Object(m)
                            });
                            if let Value::Object(m) = entry {
                                m.insert(name.clone(), p.get(name).cloned().unwrap_or(Value::Null));
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

    /// A record as `GET /sobjects/{obj}/{id}` shows it (all fields, or the listed ones).
    pub fn render_record(
        &self,
        def: &ObjectDef,
        rec: &Fields,
        only: Option<&[String]>,
        version: &str,
    ) -> Value {
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(&def.name, rec, version));
        match only {
            Some(names) => {
                for n in names {
                    if let Some(f) = def.field(n) {
                        out.insert(
                            f.name.clone(),
                            rec.get(&f.name).cloned().unwrap_or(Value::Null),
                        );
                    }
                }
            }
            None => {
                for f in &def.fields {
                    out.insert(
                        f.name.clone(),
                        rec.get(&f.name).cloned().unwrap_or(Value::Null),
                    );
                }
            }
        }
        Value::Object(out)
    }

    /// describe's `childRelationships` of an object.
    pub fn child_relationships(&self, name: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for o in &self.objects {
            for f in &o.def.fields {
                if f.reference_to.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                    let rel = match (o.def.name.as_str(), f.name.as_str()) {
                        ("Contact", "AccountId") => Some("Contacts"),
                        _ => None,
                    };
                    out.push(json!({
                        "cascadeDelete": false, "childSObject": o.def.name, "deprecatedAndHidden": false,
                        "field": f.name, "junctionIdListNames": [], "junctionReferenceTo": [],
                        "relationshipName": rel, "restrictedDelete": false,
                    }));
                }
            }
        }
        out
    }
}

/// A record's `attributes` (`type`, `url`).
pub fn attributes(object: &str, rec: &Fields, version: &str) -> Value {
    let id = rec.get("Id").and_then(Value::as_str).unwrap_or("");
    json!({"type": object, "url": format!("/services/data/v{version}/sobjects/{object}/{id}")})
}
