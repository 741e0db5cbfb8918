//! `/services/oauth2/authorize`: the browser half of the web-server flow
//! (docs/salesforce.md#authorization-code-grant). GET renders a login-and-allow page; POST checks
//! the password and sends the browser back to the callback with `code` and `state`, or with
//! `error=access_denied`.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Auth, callback_allowed, requested_scopes};

/// The query of the authorize request; the page carries it along in hidden fields.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    #[serde(rename = "sfsim_auto_approve")]
    auto_approve: Option<String>,
}

/// What the user typed and which button they pressed.
#[derive(Debug, Deserialize)]
pub(super) struct Submission {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    action: String,
}

/// A request that passed validation: where to send the browser and what it asked for.
struct Valid<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    scopes: Vec<String>,
    code_challenge: Option<&'a str>,
}

/// Errors shown on Salesforce's own error page rather than sent to the callback, because
/// the callback cannot be trusted (RFC 6749 §4.1.2.1).
fn error_page(error: &str, description: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>OAuth Error</title></head><body>\
         <h1>OAuth Error</h1><p>We can't authorize you because of an OAuth error.</p>\
         <p>error=<code>{}</code></p><p>error_description=<code>{}</code></p></body></html>",
        escape_html(error),
        escape_html(description)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

fn redirect(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn redirect_error(
    valid_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    redirect(valid_uri, &pairs)
}

impl Auth {
    /// Checks the request in Salesforce's order; `Err` is the response to send.
    fn validate<'a>(&self, p: &'a AuthorizeParams) -> Result<Valid<'a>, Response> {
        if p.client_id.as_deref() != Some(self.cfg.client_id.as_str()) {
            return Err(error_page("invalid_client_id", "client identifier invalid"));
        }
        let redirect_uri = match p.redirect_uri.as_deref() {
            Some(u) if callback_allowed(&self.cfg, u) => u,
            _ => {
                return Err(error_page(
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                ));
            }
        };
        let state = p.state.as_deref();
        if p.response_type.as_deref() != Some("code") {
            return Err(redirect_error(
                redirect_uri,
                state,
                "unsupported_response_type",
                "response type not supported",
            ));
        }
        let Some(scopes) = requested_scopes(&self.cfg, p.scope.as_deref()) else {
            return Err(redirect_error(
                redirect_uri,
                state,
                "invalid_scope",
                "the requested scope is not allowed",
            ));
        };
        // Salesforce implements only the S256 PKCE method.
        if p.code_challenge_method
            .as_deref()
            .is_some_and(|m| m != "S256")
        {
            return Err(redirect_error(
                redirect_uri,
                state,
                "invalid_request",
                "invalid code challenge method",
            ));
        }
        let code_challenge = p.code_challenge.as_deref().filter(|c| !c.is_empty());
        Ok(Valid {
            redirect_uri,
            state,
            scopes,
            code_challenge,
        })
    }

    fn approve(&self, v: Valid<'_>) -> Response {
        let code = self.new_authorization_code(v.redirect_uri, v.code_challenge, v.scopes);
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = v.state {
            pairs.push(("state", s));
        }
        redirect(v.redirect_uri, &pairs)
    }
}

/// `GET /services/oauth2/authorize`.
pub(super) async fn page(
    State(auth): State<Arc<Auth>>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let valid = match auth.validate(&p) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if p.auto_approve.as_deref() == Some("true") {
        return auth.approve(valid);
    }
    Html(login_form(&auth, &p, &valid.scopes, None)).into_response()
}

/// `POST /services/oauth2/authorize` from the page's form.
pub(super) async fn submit(State(auth): State<Arc<Auth>>, Form(s): Form<Submission>) -> Response {
    let valid = match auth.validate(&s.params) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if s.action == "deny" {
        return redirect_error(
            valid.redirect_uri,
            valid.state,
            "access_denied",
            "end-user denied authorization",
        );
    }
    let password_ok = s.username.trim().eq_ignore_ascii_case(&auth.cfg.username)
        && super::token::secret_eq(&s.password, &auth.cfg.password);
    if !password_ok {
        let message = "Please check your username and password. If you still can't log in, contact your Salesforce administrator.";
        return Html(login_form(&auth, &s.params, &valid.scopes, Some(message))).into_response();
    }
    auth.approve(valid)
}

fn hidden(name: &str, value: Option<&str>) -> String {
    value
        .map(|v| {
            format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape_html(v)
            )
        })
        .unwrap_or_default()
}

fn login_form(auth: &Auth, p: &AuthorizeParams, scopes: &[String], error: Option<&str>) -> String {
    let hidden_fields: String = [
        ("response_type", p.response_type.as_deref()),
        ("client_id", p.client_id.as_deref()),
        ("redirect_uri", p.redirect_uri.as_deref()),
        ("scope", p.scope.as_deref()),
        ("state", p.state.as_deref()),
        ("code_challenge", p.code_challenge.as_deref()),
        ("code_challenge_method", p.code_challenge_method.as_deref()),
    ]
    .iter()
    .map(|(n, v)| hidden(n, *v))
    .collect();
    let scope_items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", escape_html(s)))
        .collect();
    let error_html = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape_html(e)))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Login | Salesforce (sfsim)</title>
<style>body{{font-family:sans-serif;max-width:26rem;margin:3rem auto}}label{{display:block;margin-top:.8rem}}
input[type=text],input[type=password]{{width:100%;padding:.4rem}}.error{{color:#c23934}}button{{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}}</style>
</head><body>
<h1>Log in to the emulated org</h1>
{error_html}
<form method="post" action="/services/oauth2/authorize">
{hidden_fields}
<label for="username">Username</label><input type="text" id="username" name="username" value="{username}" autocomplete="username">
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password">
<p>The connected app <strong>{client}</strong> is asking to:</p><ul>{scope_items}</ul>
<button type="submit" name="action" value="allow">Allow</button>
<button type="submit" name="action" value="deny">Deny</button>
</form></body></html>"#,
        username = escape_html(&auth.cfg.username),
        client = escape_html(&auth.cfg.client_id),
    )
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
