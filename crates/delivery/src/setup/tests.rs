//! The setup plan, rule by rule, and the property that applying a plan leaves nothing to
//! plan.

use domain::{DestinationSettings, Slot};
use salesforce::{
    CustomFieldKind, CustomFieldMetadata, FieldPermission, PermissionSetInfo, PermissionSetState,
};

use super::*;
use crate::meta::{FieldKind, FieldMeta, ObjectMeta};
use crate::testing::field;

const USER: &str = "0055g00000IntUsAAJ";

fn bare() -> OrgSetup {
    OrgSetup {
        user_id: USER.into(),
        ..OrgSetup::default()
    }
}

fn seed_fields() -> Vec<DesiredField> {
    desired_fields(None, SetupOptions::default())
}

fn names(fields: &[DesiredField]) -> Vec<String> {
    fields.iter().map(DesiredField::full_name).collect()
}

fn object_mut(org: &mut OrgSetup, o: SObject) -> &mut ObjectMeta {
    match o {
        SObject::Lead => &mut org.meta.lead,
        SObject::Contact => &mut org.meta.contact,
        SObject::Account => &mut org.meta.account,
    }
}

/// Adds a field the integration user sees.
fn visible(org: &mut OrgSetup, o: SObject, f: FieldMeta) {
    let om = object_mut(org, o);
    let mut fields: Vec<FieldMeta> = om.fields().cloned().collect();
    fields.push(f);
    *om = ObjectMeta::new(fields);
}

/// Adds a custom field Tooling lists (its metadata read because the user cannot edit it).
fn listed(org: &mut OrgSetup, o: SObject, name: &str, metadata: Option<CustomFieldMetadata>) {
    let id = format!("00N{:015}", org.existing.len());
    org.existing.push(ExistingField {
        object: o,
        name: name.into(),
        id,
        metadata,
    });
}

fn tooling_meta(t: &str, length: Option<u32>) -> CustomFieldMetadata {
    CustomFieldMetadata {
        field_type: t.into(),
        label: "x".into(),
        length,
        ..CustomFieldMetadata::default()
    }
}

/// The describe a created field shows once granted.
fn created_meta(spec: &CustomFieldSpec) -> FieldMeta {
    let (kind, length, values) = match &spec.kind {
        CustomFieldKind::Text { length, .. } => (FieldKind::String, *length, vec![]),
        CustomFieldKind::LongTextArea { length, .. } => (FieldKind::TextArea, *length, vec![]),
        CustomFieldKind::Picklist { values, .. } => (FieldKind::Picklist, 255, values.clone()),
        CustomFieldKind::DateTime => (FieldKind::DateTime, 0, vec![]),
        CustomFieldKind::Date => (FieldKind::Date, 0, vec![]),
    };
    FieldMeta {
        picklist_values: values,
        external_id: matches!(
            spec.kind,
            CustomFieldKind::Text {
                external_id: true,
                ..
            }
        ),
        ..field(&spec.name, kind, length)
    }
}

/// The default org: every seed field exists, fits and is editable.
fn set_up() -> OrgSetup {
    let mut org = bare();
    for d in desired_fields(
        Some(&DestinationSettings::suggested("sim")),
        SetupOptions::default(),
    ) {
        visible(&mut org, d.object, created_meta(&d.spec));
    }
    org
}

fn action_of<'a>(p: &'a SetupPlan, full: &str) -> &'a FieldAction {
    &p.fields
        .iter()
        .find(|f| f.full_name() == full)
        .unwrap_or_else(|| panic!("{full} planned"))
        .action
}

#[test]
fn without_settings_the_seeds_table_gives_seven_fields() {
    assert_eq!(
        names(&seed_fields()),
        [
            "Lead.TrailSpark_Score__c",
            "Lead.TrailSpark_Evaluation_Date__c",
            "Lead.TrailSpark_Reasoning__c",
            "Contact.TrailSpark_Score__c",
            "Contact.TrailSpark_Evaluation_Date__c",
            "Contact.TrailSpark_Reasoning__c",
            "Account.TrailSpark_Propensity__c",
        ]
    );
    let with_key = desired_fields(
        None,
        SetupOptions {
            person_key: true,
            ..SetupOptions::default()
        },
    );
    assert_eq!(with_key.len(), 9);
    let key = &with_key[7];
    assert_eq!(key.full_name(), "Lead.TrailSpark_Person_Key__c");
    assert_eq!(
        key.spec.kind,
        CustomFieldKind::Text {
            length: 80,
            external_id: true,
            unique: true
        }
    );
}

#[test]
fn the_seeds_types() {
    let kinds: Vec<(String, String)> = seed_fields()
        .iter()
        .map(|d| (d.full_name(), d.spec.kind.to_string()))
        .collect();
    assert_eq!(kinds[0].1, "Text(10)");
    assert_eq!(kinds[1].1, "Date/Time");
    assert_eq!(kinds[2].1, "Long Text Area(131072)");
    assert_eq!(kinds[6].1, "Text(20)");
    assert_eq!(
        seed_fields()[2].spec.kind,
        CustomFieldKind::LongTextArea {
            length: 131_072,
            visible_lines: 6
        }
    );
    let picklist = desired_fields(
        None,
        SetupOptions {
            picklist_score: true,
            ..SetupOptions::default()
        },
    );
    assert_eq!(
        picklist[0].spec.kind,
        CustomFieldKind::Picklist {
            values: vec!["hot".into(), "warm".into(), "cold".into()],
            restricted: true
        }
    );
    assert_eq!(picklist[0].spec.label, "TrailSpark Score");
}

#[test]
fn settings_choose_the_names_and_unmapped_slots_are_not_set_up() {
    let mut s = DestinationSettings::suggested("sim");
    assert_eq!(
        desired_fields(Some(&s), SetupOptions::default()).len(),
        8,
        "the Lead propensity fallback is mapped too"
    );
    s.lead.score_field = Some("Lead_Heat__c".into());
    s.contact.reasoning_field = None;
    s.propensity.lead_field = None;
    let d = names(&desired_fields(Some(&s), SetupOptions::default()));
    assert_eq!(
        d,
        [
            "Lead.Lead_Heat__c",
            "Lead.TrailSpark_Evaluation_Date__c",
            "Lead.TrailSpark_Reasoning__c",
            "Contact.TrailSpark_Score__c",
            "Contact.TrailSpark_Evaluation_Date__c",
            "Account.TrailSpark_Propensity__c",
        ]
    );
    // Settings that map nothing: the suggested fields (docs/product.md#the-salesforce-fields).
    let mut empty = DestinationSettings::suggested("sim");
    empty.lead = Default::default();
    empty.contact = Default::default();
    empty.propensity = Default::default();
    assert_eq!(
        desired_fields(Some(&empty), SetupOptions::default()).len(),
        7
    );
}

#[test]
fn from_a_bare_org_every_field_is_created_and_granted_through_a_new_permission_set() {
    let p = plan(&bare(), &seed_fields());
    assert_eq!(p.creates().count(), 7);
    assert!(p.fields.iter().all(|f| f.access == Access::Grant));
    assert_eq!(
        p.grants
            .iter()
            .map(|g| g.field.as_str())
            .collect::<Vec<_>>(),
        names(&seed_fields())
    );
    assert!(p.grants.iter().all(|g| g.existing.is_none()));
    assert_eq!(p.permission_set, PermissionSetStep::Create);
    assert_eq!(p.assign_to.as_deref(), Some(USER));
    assert_eq!(p.problems().count(), 0);
    assert!(!p.is_empty());
}

#[test]
fn fields_that_exist_fit_and_are_editable_are_kept_and_nothing_is_planned() {
    let p = plan(&set_up(), &seed_fields());
    assert!(
        p.fields
            .iter()
            .all(|f| f.action == FieldAction::Keep && f.access == Access::Has)
    );
    assert_eq!(p.permission_set, PermissionSetStep::NotNeeded);
    assert!(p.is_empty());
}

#[test]
fn a_field_of_the_wrong_type_is_reported_and_never_altered() {
    let mut org = bare();
    visible(
        &mut org,
        SObject::Lead,
        field("TrailSpark_Evaluation_Date__c", FieldKind::String, 255),
    );
    let p = plan(&org, &seed_fields());
    match action_of(&p, "Lead.TrailSpark_Evaluation_Date__c") {
        FieldAction::Conflict(why) => {
            assert!(
                why.contains("is a string field, which cannot hold the evaluation date"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(
        p.creates()
            .all(|(f, _)| f.name != "TrailSpark_Evaluation_Date__c" || f.object != SObject::Lead)
    );
    assert!(
        p.grants
            .iter()
            .all(|g| g.field != "Lead.TrailSpark_Evaluation_Date__c")
    );
    assert_eq!(p.creates().count(), 6);
    assert_eq!(p.problems().count(), 1);
}

#[test]
fn picklists_without_our_values_short_texts_and_formulas_are_conflicts() {
    let mut org = bare();
    visible(
        &mut org,
        SObject::Lead,
        FieldMeta {
            picklist_values: vec!["warm".into(), "cold".into()],
            ..field("TrailSpark_Score__c", FieldKind::Picklist, 255)
        },
    );
    visible(
        &mut org,
        SObject::Account,
        field("TrailSpark_Propensity__c", FieldKind::String, 10),
    );
    visible(
        &mut org,
        SObject::Contact,
        FieldMeta {
            createable: false,
            updateable: false,
            ..field("TrailSpark_Reasoning__c", FieldKind::TextArea, 255)
        },
    );
    listed(
        &mut org,
        SObject::Contact,
        "TrailSpark_Reasoning__c",
        Some(CustomFieldMetadata {
            formula: true,
            ..tooling_meta("Text", None)
        }),
    );
    let p = plan(&org, &seed_fields());
    let why = |full: &str| match action_of(&p, full) {
        FieldAction::Conflict(w) => w.clone(),
        other => panic!("{full}: {other:?}"),
    };
    assert!(why("Lead.TrailSpark_Score__c").contains("without the value(s) hot"));
    assert!(
        why("Account.TrailSpark_Propensity__c")
            .contains("holds at most 10 characters; the propensity needs 17")
    );
    assert!(why("Contact.TrailSpark_Reasoning__c").contains("formula"));
    assert_eq!(p.grants.len(), 4);
}

#[test]
fn a_field_the_user_cannot_see_is_granted_when_it_fits_and_reported_when_not() {
    let mut org = bare();
    listed(
        &mut org,
        SObject::Lead,
        "TrailSpark_Evaluation_Date__c",
        Some(tooling_meta("DateTime", None)),
    );
    listed(
        &mut org,
        SObject::Contact,
        "TrailSpark_Score__c",
        Some(tooling_meta("Checkbox", None)),
    );
    listed(&mut org, SObject::Contact, "TrailSpark_Reasoning__c", None);
    let p = plan(&org, &seed_fields());
    assert_eq!(
        action_of(&p, "Lead.TrailSpark_Evaluation_Date__c"),
        &FieldAction::Keep
    );
    assert!(
        matches!(action_of(&p, "Contact.TrailSpark_Score__c"), FieldAction::Conflict(w) if w.contains("boolean"))
    );
    // Listed without readable metadata: it exists, so it is never created.
    assert_eq!(
        action_of(&p, "Contact.TrailSpark_Reasoning__c"),
        &FieldAction::Keep
    );
    assert_eq!(p.creates().count(), 4);
    let granted: Vec<&str> = p.grants.iter().map(|g| g.field.as_str()).collect();
    assert!(granted.contains(&"Lead.TrailSpark_Evaluation_Date__c"));
    assert!(granted.contains(&"Contact.TrailSpark_Reasoning__c"));
    assert!(!granted.contains(&"Contact.TrailSpark_Score__c"));
}

#[test]
fn the_permission_set_is_reused_a_partial_row_completed_and_a_held_grant_only_assigned() {
    let mut org = set_up();
    // Lead score visible but read-only; its row grants Read only.
    let mut lead: Vec<FieldMeta> = org.meta.lead.fields().cloned().collect();
    lead[0].updateable = false;
    lead[0].createable = false;
    // Lead date hidden; its row grants Read and Edit already, the set is not assigned.
    lead.remove(1);
    org.meta.lead = ObjectMeta::new(lead);
    listed(
        &mut org,
        SObject::Lead,
        "TrailSpark_Evaluation_Date__c",
        Some(tooling_meta("DateTime", None)),
    );
    org.permission_set = PermissionSetState {
        permission_set: Some(PermissionSetInfo {
            id: "0PS000000000001AAA".into(),
            name: PERMISSION_SET_NAME.into(),
            label: PERMISSION_SET_LABEL.into(),
        }),
        field_permissions: vec![
            FieldPermission {
                id: "01k000000000001AAA".into(),
                field: "Lead.TrailSpark_Score__c".into(),
                read: true,
                edit: false,
            },
            FieldPermission {
                id: "01k000000000002AAA".into(),
                field: "Lead.TrailSpark_Evaluation_Date__c".into(),
                read: true,
                edit: true,
            },
        ],
        assigned: false,
    };
    let p = plan(&org, &seed_fields());
    assert_eq!(
        p.permission_set,
        PermissionSetStep::Existing("0PS000000000001AAA".into())
    );
    assert_eq!(
        p.grants,
        vec![FieldGrant {
            field: "Lead.TrailSpark_Score__c".into(),
            existing: Some("01k000000000001AAA".into())
        }]
    );
    let access = |full: &str| {
        p.fields
            .iter()
            .find(|f| f.full_name() == full)
            .unwrap()
            .access
    };
    assert_eq!(access("Lead.TrailSpark_Evaluation_Date__c"), Access::Assign);
    assert_eq!(access("Lead.TrailSpark_Score__c"), Access::Grant);
    assert_eq!(p.assign_to.as_deref(), Some(USER));
    assert_eq!(p.creates().count(), 0);
}

#[test]
fn a_granted_and_assigned_field_still_not_editable_is_reported() {
    let mut org = set_up();
    let mut lead: Vec<FieldMeta> = org.meta.lead.fields().cloned().collect();
    lead[0].updateable = false;
    org.meta.lead = ObjectMeta::new(lead);
    org.permission_set = PermissionSetState {
        permission_set: Some(PermissionSetInfo {
            id: "0PS1".into(),
            name: PERMISSION_SET_NAME.into(),
            label: "x".into(),
        }),
        field_permissions: vec![FieldPermission {
            id: "01k1".into(),
            field: "Lead.TrailSpark_Score__c".into(),
            read: true,
            edit: true,
        }],
        assigned: true,
    };
    let p = plan(&org, &seed_fields());
    assert!(
        matches!(action_of(&p, "Lead.TrailSpark_Score__c"), FieldAction::Conflict(w) if w.contains("object permissions"))
    );
    assert!(p.is_empty());
}

#[test]
fn a_missing_field_with_a_standard_name_cannot_be_created() {
    let mut s = DestinationSettings::suggested("sim");
    s.lead.reasoning_field = Some("Description".into());
    s.contact.score_field = Some("Two__Underscores__c".into());
    let p = plan(&bare(), &desired_fields(Some(&s), SetupOptions::default()));
    assert!(
        matches!(action_of(&p, "Lead.Description"), FieldAction::CannotCreate(w) if w.contains("not a custom field name"))
    );
    assert!(matches!(
        action_of(&p, "Contact.Two__Underscores__c"),
        FieldAction::CannotCreate(_)
    ));
    assert_eq!(p.problems().count(), 2);
    assert_eq!(p.grants.len(), 6);
}

// ------------------------------------------------------------------------------------
// Applying twice plans nothing

/// What Salesforce does with a plan that fully succeeds: fields created, rows granted,
/// the set created and assigned; fields readable and editable through an assigned set
/// become visible and editable.
fn simulate(org: &OrgSetup, p: &SetupPlan) -> OrgSetup {
    let mut next = org.clone();
    for (f, spec) in p.creates() {
        listed(&mut next, f.object, &f.name, None);
        let _ = spec;
    }
    let ps = &mut next.permission_set;
    if p.permission_set == PermissionSetStep::Create {
        ps.permission_set = Some(PermissionSetInfo {
            id: "0PSnew".into(),
            name: PERMISSION_SET_NAME.into(),
            label: PERMISSION_SET_LABEL.into(),
        });
    }
    for g in &p.grants {
        ps.field_permissions
            .retain(|r| !r.field.eq_ignore_ascii_case(&g.field));
        ps.field_permissions.push(FieldPermission {
            id: format!("01k{}", g.field),
            field: g.field.clone(),
            read: true,
            edit: true,
        });
    }
    if p.assign_to.is_some() {
        ps.assigned = true;
    }
    let grants: Vec<String> = if ps.assigned {
        ps.field_permissions
            .iter()
            .filter(|r| r.read && r.edit)
            .map(|r| r.field.to_ascii_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    for f in &p.fields {
        let full = f.full_name().to_ascii_lowercase();
        if !grants.contains(&full) {
            continue;
        }
        let om = object_mut(&mut next, f.object);
        let mut fields: Vec<FieldMeta> = om.fields().cloned().collect();
        match fields
            .iter_mut()
            .find(|m| m.name.eq_ignore_ascii_case(&f.name))
        {
            Some(m) => {
                m.createable = true;
                m.updateable = true;
            }
            None => {
                let meta = match &f.action {
                    FieldAction::Create(spec) => created_meta(spec),
                    // A hidden field that fit: it shows as what its metadata says.
                    _ => {
                        let e = org
                            .existing
                            .iter()
                            .find(|e| e.object == f.object && e.name.eq_ignore_ascii_case(&f.name));
                        match e.and_then(|e| e.metadata.as_ref()) {
                            Some(m) => FieldMeta {
                                createable: true,
                                updateable: true,
                                ..meta_of(&f.name, m)
                            },
                            None => field(&f.name, FieldKind::String, 255),
                        }
                    }
                };
                fields.push(meta);
            }
        }
        *om = ObjectMeta::new(fields);
    }
    next
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// How one seed field stands in the org.
    #[derive(Debug, Clone, Copy)]
    enum State {
        Absent,
        Editable,
        ReadOnly,
        HiddenFit,
        VisibleWrong,
        HiddenWrong,
    }

    fn state() -> impl Strategy<Value = State> {
        prop_oneof![
            Just(State::Absent),
            Just(State::Editable),
            Just(State::ReadOnly),
            Just(State::HiddenFit),
            Just(State::VisibleWrong),
            Just(State::HiddenWrong),
        ]
    }

    fn org_of(states: &[State], set_exists: bool, assigned: bool) -> OrgSetup {
        let mut org = bare();
        for (d, s) in seed_fields().iter().zip(states) {
            let good = created_meta(&d.spec);
            let fit_type = d.spec.kind.type_name();
            match s {
                State::Absent => {}
                State::Editable => visible(&mut org, d.object, good),
                State::ReadOnly => {
                    visible(
                        &mut org,
                        d.object,
                        FieldMeta {
                            createable: false,
                            updateable: false,
                            ..good
                        },
                    );
                    listed(
                        &mut org,
                        d.object,
                        &d.name,
                        Some(tooling_meta(fit_type, Some(good.length))),
                    );
                }
                State::HiddenFit => listed(
                    &mut org,
                    d.object,
                    &d.name,
                    Some(tooling_meta(fit_type, Some(good.length))),
                ),
                State::VisibleWrong => {
                    visible(&mut org, d.object, field(&d.name, FieldKind::Number, 0))
                }
                State::HiddenWrong => listed(
                    &mut org,
                    d.object,
                    &d.name,
                    Some(tooling_meta("Number", None)),
                ),
            }
        }
        if set_exists {
            org.permission_set.permission_set = Some(PermissionSetInfo {
                id: "0PSold".into(),
                name: PERMISSION_SET_NAME.into(),
                label: PERMISSION_SET_LABEL.into(),
            });
            org.permission_set.assigned = assigned;
        }
        org
    }

    proptest! {
        #[test]
        fn applying_a_plan_then_planning_again_plans_nothing(
            states in proptest::collection::vec(state(), 7),
            set_exists in any::<bool>(),
            assigned in any::<bool>(),
        ) {
            let desired = seed_fields();
            let org = org_of(&states, set_exists, assigned);
            let first = plan(&org, &desired);
            // Never create what exists; never touch a conflicting field.
            for (f, _) in first.creates() {
                let idx = desired.iter().position(|d| d.object == f.object && d.name == f.name).unwrap();
                prop_assert!(matches!(states[idx], State::Absent));
            }
            for (f, _) in first.problems() {
                prop_assert!(first.grants.iter().all(|g| g.field != f.full_name()));
            }
            let again = plan(&simulate(&org, &first), &desired);
            prop_assert!(again.is_empty(), "{:?}", again);
            prop_assert_eq!(again.problems().count(), first.problems().count());
        }
    }
}

#[test]
fn slot_words_are_the_settings_names() {
    assert_eq!(
        Purpose::Slot(Slot::EvaluationDate).words(),
        "evaluation date"
    );
    assert_eq!(Purpose::PersonKey.words(), "person key");
}
