//! Checking a parsed query against the org's metadata: object and field names are
//! resolved case-insensitively to their canonical spelling (one parent relationship
//! deep), literals are type-checked against their fields, and 15-character ids in
//! filters on id fields become the stored 18-character ones.

use super::{ErrorCode, Expr, FieldRef, Literal, Query, SelectItem, SoqlError, err_at};
use crate::schema::{FieldType, ObjectDef};

/// Resolves object and field names against the org's metadata (case-insensitively) and
/// rewrites them to their canonical spelling; type-checks literals against fields.
pub fn check<'a>(
    mut q: Query,
    src: &str,
    object: impl Fn(&str) -> Option<&'a ObjectDef>,
) -> Result<(Query, &'a ObjectDef), SoqlError> {
    let from_pos = src
        .to_ascii_lowercase()
        .find(&format!(" {}", q.from.to_ascii_lowercase()))
        .map_or(0, |p| p + 1);
    let Some(def) = object(&q.from) else {
        return Err(err_at(
            ErrorCode::InvalidType,
            src,
            from_pos,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                q.from
            ),
        ));
    };
    q.from = def.name.clone();
    let resolve = |f: &mut FieldRef| resolve_field(f, def, src, &object);
    for s in &mut q.select {
        if let SelectItem::Field(f) = s {
            resolve(f)?;
        }
    }
    for o in &mut q.order_by {
        resolve(&mut o.field)?;
    }
    if let Some(e) = &mut q.filter {
        check_expr(e, src, &|f: &mut FieldRef| {
            resolve_field(f, def, src, &object)
        })?;
    }
    Ok((q, def))
}

fn resolve_field<'a>(
    f: &mut FieldRef,
    def: &ObjectDef,
    src: &str,
    object: &impl Fn(&str) -> Option<&'a ObjectDef>,
) -> Result<(), SoqlError> {
    let no_column = |name: &str, entity: &str| {
        err_at(
            ErrorCode::InvalidField,
            src,
            f.pos,
            &format!(
                "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
            ),
        )
    };
    // `Lead.Email` on FROM Lead: the object name may prefix its own fields.
    let mut path = f.path.clone();
    if path.len() == 2
        && path[0].eq_ignore_ascii_case(&def.name)
        && def.relationship(&path[0]).is_none()
    {
        path.remove(0);
    }
    match path.as_slice() {
        [name] => {
            let fd = def.field(name).ok_or_else(|| no_column(name, &def.name))?;
            f.path = vec![fd.name.clone()];
            f.ftype = fd.ftype;
            Ok(())
        }
        [rel, name] => {
            let rf = def.relationship(rel).ok_or_else(|| {
                err_at(
                    ErrorCode::InvalidField,
                    src,
                    f.pos,
                    &format!(
                        "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                )
            })?;
            let target = rf
                .reference_to
                .first()
                .and_then(|t| object(t))
                .ok_or_else(|| no_column(name, rf.reference_to.first().map_or("", |s| s)))?;
            let fd = target
                .field(name)
                .ok_or_else(|| no_column(name, &target.name))?;
            f.path = vec![
                rf.relationship_name.clone().unwrap_or_default(),
                fd.name.clone(),
            ];
            f.ftype = fd.ftype;
            Ok(())
        }
        _ => Err(err_at(
            ErrorCode::MalformedQuery,
            src,
            f.pos,
            "Relationship paths deeper than one level are not supported by this org.",
        )),
    }
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Datetime => "dateTime",
        FieldType::Date => "date",
        FieldType::Boolean => "boolean",
        FieldType::Double | FieldType::Currency => "double",
        FieldType::Int => "int",
        _ => "string",
    }
}

fn check_literal(field: &FieldRef, v: &Literal, src: &str) -> Result<(), SoqlError> {
    let ok = match (field.ftype, v) {
        (_, Literal::Null) => true,
        (FieldType::Datetime, Literal::DateTime(_)) => true,
        (FieldType::Date, Literal::Date(_)) => true,
        (FieldType::Boolean, Literal::Bool(_)) => true,
        (FieldType::Double | FieldType::Currency | FieldType::Int, Literal::Num(_)) => true,
        (FieldType::Datetime | FieldType::Date | FieldType::Boolean, _) => false,
        (FieldType::Double | FieldType::Currency | FieldType::Int, _) => false,
        (_, Literal::Str(_)) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let quoted = matches!(v, Literal::Str(_));
    let name = field.path.join(".");
    let what = if quoted {
        format!(
            "value of filter criterion for field '{name}' must be of type {} and should not be enclosed in quotes",
            type_name(field.ftype)
        )
    } else {
        format!(
            "value of filter criterion for field '{name}' must be of type {} and should be enclosed in quotes",
            type_name(field.ftype)
        )
    };
    Err(err_at(ErrorCode::InvalidField, src, field.pos, &what))
}

/// 15-character ids in filters on id fields match the stored 18-character ids.
fn normalise_id(field: &FieldRef, v: &mut Literal) {
    if matches!(field.ftype, FieldType::Id | FieldType::Reference) {
        if let Literal::Str(s) = v {
            if let Some(id18) = crate::ids::to_18(s) {
                *s = id18;
            }
        }
    }
}

fn check_expr(
    e: &mut Expr,
    src: &str,
    resolve: &dyn Fn(&mut FieldRef) -> Result<(), SoqlError>,
) -> Result<(), SoqlError> {
    match e {
        Expr::And(xs) | Expr::Or(xs) => {
            for x in xs {
                check_expr(x, src, resolve)?;
            }
            Ok(())
        }
        Expr::Not(x) => check_expr(x, src, resolve),
        Expr::Cmp { field, value, .. } => {
            resolve(field)?;
            normalise_id(field, value);
            check_literal(field, value, src)
        }
        Expr::In {
            field, values, set, ..
        } => {
            resolve(field)?;
            values.iter_mut().for_each(|v| normalise_id(field, v));
            if matches!(field.ftype, FieldType::Id | FieldType::Reference) {
                *set = values
                    .iter()
                    .filter_map(|v| match v {
                        Literal::Str(s) => Some(s.to_lowercase()),
                        _ => None,
                    })
                    .collect();
            }
            values.iter().try_for_each(|v| check_literal(field, v, src))
        }
        Expr::Like { field, .. } => {
            resolve(field)?;
            if field.ftype.is_text() {
                Ok(())
            } else {
                Err(err_at(
                    ErrorCode::InvalidField,
                    src,
                    field.pos,
                    &format!("invalid operator on {} field: LIKE", type_name(field.ftype)),
                ))
            }
        }
    }
}
