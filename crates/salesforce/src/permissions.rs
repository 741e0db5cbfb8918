//! Field access for the integration user through a permission set: read a permission
//! set's state (the set, its field permissions, whether the user holds it) in one call,
//! find or create it by name, grant Read+Edit with `FieldPermissions` (sObject
//! Collections of 200, packed into Composite requests), and assign it to a user, a
//! duplicate assignment counting as done.
//!
//! Object reference: PermissionSet
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionset.htm>,
//! FieldPermissions
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm>
//! ("PermissionsEdit … Requires PermissionsRead"), PermissionSetAssignment
//! <https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionsetassignment.htm>.
//! Composite references (`@{ps.id}`) let one request create the set and use its id:
//! <https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite.htm>.

use serde_json::{Value, json};

use crate::client::Client;
use crate::composite::{SubRequest, SubResponse};
use crate::error::{ApiError, Error};
use crate::soql::quote_soql_literal;
use crate::tooling::created_id;
use crate::types::{Record, RecordError, SaveResult};
use crate::{COLLECTION_MAX_RECORDS, COMPOSITE_MAX_HEAVY_SUBREQUESTS};

/// A permission set by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSetInfo {
    pub id: String,
    pub name: String,
    pub label: String,
}

/// One `FieldPermissions` row of a permission set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPermission {
    pub id: String,
    /// `Object.Field`.
    pub field: String,
    pub read: bool,
    pub edit: bool,
}

/// A permission set as the integration user's access depends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSetState {
    /// `None` when the org has no (unmanaged) permission set of that name.
    pub permission_set: Option<PermissionSetInfo>,
    pub field_permissions: Vec<FieldPermission>,
    /// Whether the user holds it.
    pub assigned: bool,
}

/// The outcome of an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// The new `PermissionSetAssignment` id.
    Created(String),
    /// Salesforce answered `DUPLICATE_VALUE` "Duplicate PermissionSetAssignment": the user
    /// already holds the set.
    AlreadyAssigned,
}

/// Which permission set grants go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionSetRef {
    Existing(String),
    /// Created in the same Composite request as the grants.
    Create {
        name: String,
        label: String,
        description: String,
    },
}

/// Read + Edit on one field (`Object.Field`), as a new row or by completing an existing
/// row that lacks either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldGrant {
    pub field: String,
    /// The `FieldPermissions` id to update, when the set already has a row for the field.
    pub existing: Option<String>,
}

/// Everything [`Client::grant_field_access`] does, in as few calls as it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub permission_set: PermissionSetRef,
    pub grants: Vec<FieldGrant>,
    /// The user to assign the set to (`Identity::user_id`), if it is not assigned yet.
    pub assign_to: Option<String>,
}

/// What [`Client::grant_field_access`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantOutcome {
    /// The permission set's id (or why it could not be created).
    pub permission_set: Result<String, Error>,
    /// Per grant, in request order.
    pub grants: Vec<Result<(), Error>>,
    /// When an assignment was asked for.
    pub assignment: Option<Result<Assignment, Error>>,
    /// Composite requests sent.
    pub calls: usize,
}

/// A per-record error as a typed [`Error::Api`] (HTTP 400, as the single-record API
/// would have answered).
fn record_error(e: &RecordError) -> Error {
    Error::Api {
        status: 400,
        errors: vec![ApiError {
            error_code: e.status_code.clone(),
            message: e.message.clone(),
            fields: e.fields.clone(),
        }],
    }
}

fn is_duplicate_assignment(e: &Error) -> bool {
    matches!(e, Error::Api { errors, .. } if errors.first().is_some_and(|a| {
        a.error_code == "DUPLICATE_VALUE" && a.message.contains("Duplicate PermissionSetAssignment")
    }))
}

fn text(r: &Record, k: &str) -> String {
    r.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

impl Client {
    /// The permission set named `name`, its field permissions on `objects` and whether
    /// `user_id` holds it: three queries in one Composite request (one API call).
    pub async fn permission_set_state(
        &self,
        name: &str,
        user_id: &str,
        objects: &[&str],
    ) -> Result<PermissionSetState, Error> {
        let n = quote_soql_literal(name);
        let objs: Vec<String> = objects.iter().map(|o| quote_soql_literal(o)).collect();
        let soqls = vec![
            format!(
                "SELECT Id, Name, Label FROM PermissionSet WHERE Name = {n} AND NamespacePrefix = null"
            ),
            format!(
                "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions WHERE Parent.Name = {n} AND Parent.NamespacePrefix = null AND SobjectType IN ({})",
                objs.join(", ")
            ),
            format!(
                "SELECT Id FROM PermissionSetAssignment WHERE PermissionSet.Name = {n} AND PermissionSet.NamespacePrefix = null AND AssigneeId = {}",
                quote_soql_literal(user_id)
            ),
        ];
        let mut results = self.query_many(&soqls).await?.into_iter();
        let sets = results.next().unwrap_or_default();
        let perms = results.next().unwrap_or_default();
        let assigned = results.next().unwrap_or_default();
        Ok(PermissionSetState {
            permission_set: sets.first().map(|r| PermissionSetInfo {
                id: text(r, "Id"),
                name: text(r, "Name"),
                label: text(r, "Label"),
            }),
            field_permissions: perms
                .iter()
                .map(|r| FieldPermission {
                    id: text(r, "Id"),
                    field: text(r, "Field"),
                    read: r.get("PermissionsRead") == Some(&json!(true)),
                    edit: r.get("PermissionsEdit") == Some(&json!(true)),
                })
                .collect(),
            assigned: !assigned.is_empty(),
        })
    }

    /// The unmanaged permission set named `name`, created (with `label`) when missing.
    pub async fn find_or_create_permission_set(
        &self,
        name: &str,
        label: &str,
        description: &str,
    ) -> Result<PermissionSetInfo, Error> {
        let find = || async {
            let soql = format!(
                "SELECT Id, Name, Label FROM PermissionSet WHERE Name = {} AND NamespacePrefix = null",
                quote_soql_literal(name)
            );
            Ok::<_, Error>(self.query(&soql).await?.first().map(|r| PermissionSetInfo {
                id: text(r, "Id"),
                name: text(r, "Name"),
                label: text(r, "Label"),
            }))
        };
        if let Some(found) = find().await? {
            return Ok(found);
        }
        let sub = create_permission_set(self, "ps", name, label, description);
        let answer = self.composite(&[sub], Vec::new(), false).await?;
        match answer.into_iter().next().map(created_id) {
            Some(Ok(id)) => Ok(PermissionSetInfo {
                id,
                name: name.to_owned(),
                label: label.to_owned(),
            }),
            // Someone created it meanwhile.
            Some(Err(e)) if e.error_code() == Some("DUPLICATE_DEVELOPER_NAME") => {
                find().await?.ok_or(e)
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::Decode("composite answer without the create".into())),
        }
    }

    /// Assigns the permission set to the user; an existing assignment is success.
    pub async fn assign_permission_set(
        &self,
        permission_set_id: &str,
        user_id: &str,
    ) -> Result<Assignment, Error> {
        let sub = assignment(self, "a", permission_set_id, user_id);
        let answer = self.composite(&[sub], Vec::new(), false).await?;
        assignment_result(answer.into_iter().next())
    }

    /// Creates the permission set when asked, grants Read+Edit on each field (new
    /// `FieldPermissions` rows by sObject Collections create, existing rows completed by
    /// Collections update, 200 records per collection) and assigns the set — packed into
    /// Composite requests of at most 5 collections each; the first request also carries
    /// the set's create (its id passed by reference) and the assignment. So up to 1,000
    /// grants cost one API call.
    pub async fn grant_field_access(&self, req: &GrantRequest) -> GrantOutcome {
        let version = self.api_version();
        let mut out = GrantOutcome {
            permission_set: Err(Error::Decode("not attempted".into())),
            grants: Vec::new(),
            assignment: None,
            calls: 0,
        };
        let mut grants: Vec<Option<Result<(), Error>>> = vec![None; req.grants.len()];
        let (mut ps_id, create) = match &req.permission_set {
            PermissionSetRef::Existing(id) => (Some(id.clone()), None),
            PermissionSetRef::Create {
                name,
                label,
                description,
            } => (None, Some((name, label, description))),
        };
        // Collections: (grant indexes, create or update).
        let new: Vec<usize> = (0..req.grants.len())
            .filter(|i| req.grants[*i].existing.is_none())
            .collect();
        let old: Vec<usize> = (0..req.grants.len())
            .filter(|i| req.grants[*i].existing.is_some())
            .collect();
        let mut collections: Vec<(Vec<usize>, bool)> = new
            .chunks(COLLECTION_MAX_RECORDS)
            .map(|c| (c.to_vec(), true))
            .collect();
        collections.extend(
            old.chunks(COLLECTION_MAX_RECORDS)
                .map(|c| (c.to_vec(), false)),
        );
        let mut first = true;
        let mut batches = collections
            .chunks(COMPOSITE_MAX_HEAVY_SUBREQUESTS)
            .peekable();
        while first || batches.peek().is_some() {
            if !first && ps_id.is_none() {
                break;
            }
            let batch = batches.next().unwrap_or(&[]);
            let mut subs = Vec::new();
            if let (true, Some((name, label, description))) = (first, create) {
                subs.push(create_permission_set(self, "ps", name, label, description));
            }
            let parent = ps_id.clone().unwrap_or_else(|| "@{ps.id}".to_owned());
            for (n, (idx, creating)) in batch.iter().enumerate() {
                let records: Vec<Value> = idx
                    .iter()
                    .map(|i| {
                        let g = &req.grants[*i];
                        match (&g.existing, creating) {
                            (Some(id), false) => json!({"attributes": {"type": "FieldPermissions"},
                                "Id": id, "PermissionsRead": true, "PermissionsEdit": true}),
                            _ => json!({"attributes": {"type": "FieldPermissions"},
                                "ParentId": parent,
                                "SobjectType": g.field.split('.').next().unwrap_or(""),
                                "Field": g.field, "PermissionsRead": true, "PermissionsEdit": true}),
                        }
                    })
                    .collect();
                subs.push(SubRequest {
                    method: if *creating { "POST" } else { "PATCH" },
                    url: format!("{}/composite/sobjects", version.data_path()),
                    reference_id: format!("g{n}"),
                    body: Some(json!({"allOrNone": false, "records": records})),
                    http_headers: Vec::new(),
                });
            }
            if let (true, Some(user)) = (first, &req.assign_to) {
                subs.push(assignment(self, "a", &parent, user));
            }
            if subs.is_empty() {
                break;
            }
            out.calls += 1;
            let answer = self.composite(&subs, Vec::new(), false).await;
            let answers: Vec<Option<SubResponse>> = match answer {
                Ok(a) => a.into_iter().map(Some).collect(),
                Err(e) => {
                    // The whole request failed: every operation it carried gets the error.
                    if first && ps_id.is_none() {
                        out.permission_set = Err(e.clone());
                    }
                    for (idx, _) in batch {
                        for i in idx {
                            grants[*i] = Some(Err(e.clone()));
                        }
                    }
                    if first && req.assign_to.is_some() {
                        out.assignment = Some(Err(e));
                    }
                    break;
                }
            };
            let mut answers = answers.into_iter();
            if first && create.is_some() {
                match answers.next().flatten().map(created_id) {
                    Some(Ok(id)) => ps_id = Some(id),
                    Some(Err(e)) => out.permission_set = Err(e),
                    None => {}
                }
            }
            let ps_err = || match &out.permission_set {
                Err(e) => e.clone(),
                Ok(_) => Error::Decode("no permission set".into()),
            };
            for (idx, _) in batch {
                let sub = answers.next().flatten();
                let results: Result<Vec<SaveResult>, Error> = match sub {
                    // A reference to a set that was not created: report why it was not.
                    _ if ps_id.is_none() => Err(ps_err()),
                    Some(s) if s.is_success() => serde_json::from_value(s.body)
                        .map_err(|e| Error::Decode(format!("collection results: {e}"))),
                    Some(s) => Err(s.error()),
                    None => Err(Error::Decode("composite answer lacks a collection".into())),
                };
                for (k, i) in idx.iter().enumerate() {
                    grants[*i] = Some(match &results {
                        Ok(rs) => match rs.get(k) {
                            Some(r) if r.success => Ok(()),
                            Some(r) => {
                                Err(r.errors.first().map(record_error).unwrap_or_else(|| {
                                    Error::Decode("failed without an error".into())
                                }))
                            }
                            None => Err(Error::Decode("collection result missing".into())),
                        },
                        Err(e) => Err(e.clone()),
                    });
                }
            }
            if first && req.assign_to.is_some() {
                out.assignment = Some(match ps_id {
                    None => Err(ps_err()),
                    Some(_) => assignment_result(answers.next().flatten()),
                });
            }
            first = false;
        }
        // Grants never sent: the set they needed was not created.
        let unsent = match &out.permission_set {
            Err(e) if ps_id.is_none() => e.clone(),
            _ => Error::Decode("not sent".into()),
        };
        out.grants = grants
            .into_iter()
            .map(|g| g.unwrap_or_else(|| Err(unsent.clone())))
            .collect();
        if let Some(id) = ps_id {
            out.permission_set = Ok(id);
        }
        out
    }
}

fn create_permission_set(
    c: &Client,
    reference: &str,
    name: &str,
    label: &str,
    description: &str,
) -> SubRequest {
    SubRequest {
        method: "POST",
        url: format!("{}/sobjects/PermissionSet", c.api_version().data_path()),
        reference_id: reference.to_owned(),
        body: Some(json!({"Name": name, "Label": label, "Description": description})),
        http_headers: Vec::new(),
    }
}

fn assignment(c: &Client, reference: &str, permission_set: &str, user_id: &str) -> SubRequest {
    SubRequest {
        method: "POST",
        url: format!(
            "{}/sobjects/PermissionSetAssignment",
            c.api_version().data_path()
        ),
        reference_id: reference.to_owned(),
        body: Some(json!({"AssigneeId": user_id, "PermissionSetId": permission_set})),
        http_headers: Vec::new(),
    }
}

fn assignment_result(sub: Option<SubResponse>) -> Result<Assignment, Error> {
    let sub = sub.ok_or_else(|| Error::Decode("composite answer lacks the assignment".into()))?;
    match created_id(sub) {
        Ok(id) => Ok(Assignment::Created(id)),
        Err(e) if is_duplicate_assignment(&e) => Ok(Assignment::AlreadyAssigned),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_assignment_is_success() {
        let sub = |code: &str, message: &str| SubResponse {
            body: json!([{"message": message, "errorCode": code, "fields": ["AssigneeId", "PermissionSetId"]}]),
            http_status_code: 400,
            reference_id: "a".into(),
        };
        assert_eq!(
            assignment_result(Some(sub(
                "DUPLICATE_VALUE",
                "Duplicate PermissionSetAssignment.  Assignee: 005ak000005hvjJ; Permission Set: 0PSak00000M9uBB"
            ))),
            Ok(Assignment::AlreadyAssigned)
        );
        assert!(assignment_result(Some(sub("INVALID_CROSS_REFERENCE_KEY", "invalid"))).is_err());
        let ok = SubResponse {
            body: json!({"id": "0Pa000000000001AAA", "success": true, "errors": []}),
            http_status_code: 201,
            reference_id: "a".into(),
        };
        assert_eq!(
            assignment_result(Some(ok)),
            Ok(Assignment::Created("0Pa000000000001AAA".into()))
        );
    }
}
