//! The OpenAPI document at `/api/openapi.json`, generated from the handlers' own
//! annotations and request types (utoipa), so it cannot drift from the code; a test checks
//! that it lists exactly the routes of the role table ([`crate::auth::ROUTES`]).

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::handlers::{audit, connections, session, settings, setup, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "trailspark",
        description = "Writes AI lead evaluations into Salesforce. Machines authenticate with `Authorization: Bearer <token>`; people with the session cookie from `POST /api/v1/session`, and then send the session's CSRF token in `X-CSRF-Token` on every change."
    ),
    paths(
        api::post_evaluations,
        api::get_evaluation,
        api::list_deliveries,
        api::retry_delivery,
        api::retry_failed,
        api::replay,
        api::healthz,
        api::readyz,
        api::metrics,
        api::openapi,
        session::sign_in,
        session::who_am_i,
        session::sign_out,
        users::list,
        users::create,
        users::update,
        users::remove,
        audit::list,
        connections::begin,
        connections::callback,
        connections::list,
        connections::test,
        connections::disconnect,
        connections::fields,
        setup::setup,
        settings::get,
        settings::put,
        settings::history,
    ),
    components(schemas(
        session::SignIn,
        users::NewUser,
        users::UserChange,
        connections::BeginConnect
    )),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The two ways to authenticate.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::session::COOKIE))),
        );
    }
}

/// The document as JSON (built once).
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serializes")
    })
}

#[cfg(test)]
mod tests {
    use crate::auth::{Access, ROUTES};

    fn doc() -> serde_json::Value {
        serde_json::from_str(super::document()).expect("the document is JSON")
    }

    /// The document lists exactly the routes of the role table, with their methods.
    #[test]
    fn the_document_matches_the_route_table() {
        let doc = doc();
        let mut documented = Vec::new();
        for (p, ops) in doc["paths"].as_object().expect("paths") {
            for m in ops.as_object().expect("operations").keys() {
                documented.push(format!("{} {p}", m.to_uppercase()));
            }
        }
        let mut table: Vec<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
        documented.sort();
        table.sort();
        assert_eq!(documented, table);
    }

    /// Every route that needs credentials says how to give them, and no public one does.
    #[test]
    fn routes_that_need_credentials_declare_them() {
        let doc = doc();
        for (m, p, access) in ROUTES {
            let op = &doc["paths"][*p][m.as_str().to_lowercase()];
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(secured, *access != Access::Public, "{m} {p}");
        }
    }
}
