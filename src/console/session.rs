//! Console login (SPEC 9): an admin token, once, for an HttpOnly, SameSite=Strict
//! session cookie scoped to `/ui`; and the CSRF token every form carries, tied to the
//! session (or, with no tokens configured, to a per-process secret).

use super::html::{esc, page, Nav};
use crate::control::Control;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const COOKIE: &str = "twilert_session";
/// How long a console login lasts.
const TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest go first past this).
const MAX_SESSIONS: usize = 10_000;

/// Server-side sessions: random ids, each with its expiry.
pub struct Sessions {
    secret: [u8; 32],
    live: Mutex<HashMap<String, Instant>>,
}

/// What the admin token check does with a request that has no valid bearer token.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// A console page without a session: send the browser to the login page.
    Login,
    Refuse,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions {
            secret: random(),
            live: Mutex::default(),
        }
    }

    fn create(&self) -> String {
        let id = hex::encode(random());
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, exp| *exp > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), now + TTL);
        id
    }

    fn valid(&self, id: &str) -> bool {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(id).is_some_and(|exp| *exp > Instant::now())
    }

    fn end(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Lets the login page through, and console pages with a live session cookie.
    pub fn gate(&self, path: &str, headers: &HeaderMap) -> Gate {
        if path == "/ui/login" {
            return Gate::Pass;
        }
        let console = path == "/ui" || path.starts_with("/ui/");
        if !console {
            return Gate::Refuse;
        }
        match cookie(headers) {
            Some(id) if self.valid(&id) => Gate::Pass,
            _ => Gate::Login,
        }
    }

    /// The CSRF token of the request's session (or of the process, without one).
    pub fn csrf(&self, headers: &HeaderMap) -> String {
        let session = cookie(headers).filter(|id| self.valid(id));
        self.csrf_for(session.as_deref())
    }

    fn csrf_for(&self, session: Option<&str>) -> String {
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&self.secret) else {
            return String::new();
        };
        mac.update(b"csrf:");
        mac.update(session.unwrap_or("-").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether a form's `csrf` field is the one this request's session was given.
    pub fn csrf_ok(&self, headers: &HeaderMap, presented: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.csrf(headers);
        let presented = presented.unwrap_or("");
        !expected.is_empty()
            && expected.len() == presented.len()
            && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }
}

fn random() -> [u8; 32] {
    let mut b = [0u8; 32];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness: still unique per process, never a fixed value.
        let fallback = format!("{:?}{}", Instant::now(), std::process::id());
        b[..fallback.len().min(32)].copy_from_slice(&fallback.as_bytes()[..fallback.len().min(32)]);
    }
    b
}

/// The session id from the `Cookie` header.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("Cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The 403 for a form without its CSRF token.
pub fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/html; charset=utf-8")
        .body(page(
            "Refused",
            Nav::None,
            "<p>This form was not sent from a page of this console (missing or wrong CSRF token). Reload the page and try again.</p>",
        ))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/login", web::get().to(login_page))
        .route("/ui/login", web::post().to(login))
        .route("/ui/logout", web::post().to(logout));
}

fn tokens_configured(ctl: &Control) -> bool {
    ctl.shared
        .get()
        .settings
        .admin
        .tokens
        .iter()
        .any(|t| !t.expose_secret().is_empty())
}

async fn login_page(
    req: HttpRequest,
    ctl: web::Data<Control>,
    sessions: web::Data<Sessions>,
) -> HttpResponse {
    login_form(&req, &ctl, &sessions, None)
}

fn login_form(
    req: &HttpRequest,
    ctl: &Control,
    sessions: &Sessions,
    error: Option<&str>,
) -> HttpResponse {
    let logged_in = cookie(req.headers()).is_some_and(|id| sessions.valid(&id));
    let body = if logged_in && error.is_none() {
        format!(
            "<p>You are logged in. <a href=\"/ui/\">Open the overview</a>.</p>\
             <form method=\"post\" action=\"/ui/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" id=\"logout\">Log out</button></form>",
            sessions.csrf(req.headers())
        )
    } else if tokens_configured(ctl) {
        format!(
            "{}<form method=\"post\" action=\"/ui/login\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label>Admin token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" autofocus></label> \
             <button type=\"submit\" id=\"login\">Log in</button></form>",
            error.map(|e| format!("<p class=\"error\">{}</p>", esc(e))).unwrap_or_default(),
            sessions.csrf(req.headers()),
        )
    } else {
        "<p>No <code>admin.tokens</code> are configured: the console is open to whoever reaches the admin listener. <a href=\"/ui/\">Open the overview</a>.</p>".into()
    };
    let status = if error.is_some() {
        actix_web::http::StatusCode::UNAUTHORIZED
    } else {
        actix_web::http::StatusCode::OK
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page("Log in", Nav::None, &body))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: Option<String>,
    csrf: Option<String>,
}

async fn login(
    req: HttpRequest,
    ctl: web::Data<Control>,
    sessions: web::Data<Sessions>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    let presented = form.token.as_deref().unwrap_or("").trim();
    let rt = ctl.shared.get();
    let ok = rt
        .settings
        .admin
        .tokens
        .iter()
        .map(|t| t.expose_secret())
        .filter(|t| !t.is_empty())
        .any(|t| token_matches(t, presented));
    if !ok {
        ctl.metrics
            .counter("twilert_admin_unauthorized_total", &[])
            .increment(1);
        tracing::warn!(peer = ?req.peer_addr(), "console login with a wrong token");
        return login_form(&req, &ctl, &sessions, Some("That is not an admin token."));
    }
    let id = sessions.create();
    HttpResponse::SeeOther()
        .insert_header(("Location", "/ui/"))
        .insert_header((
            "Set-Cookie",
            format!(
                "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
                TTL.as_secs()
            ),
        ))
        .finish()
}

#[derive(serde::Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn logout(
    req: HttpRequest,
    sessions: web::Data<Sessions>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    if !sessions.csrf_ok(req.headers(), form.csrf.as_deref()) {
        return forbidden();
    }
    if let Some(id) = cookie(req.headers()) {
        sessions.end(&id);
    }
    HttpResponse::SeeOther()
        .insert_header(("Location", "/ui/login"))
        .insert_header((
            "Set-Cookie",
            format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
        ))
        .finish()
}

/// Constant-time comparison of a configured token with the presented one (the
/// admin listener's bearer tokens, the console's login).
pub(crate) fn token_matches(expected: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cret", "s3cre"));
        assert!(!token_matches("s3cret", "s3cret2"));
        assert!(!token_matches("s3cret", ""));
    }
    use actix_web::http::header::{HeaderValue, COOKIE as COOKIE_HEADER};

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE_HEADER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn a_session_opens_the_console_only() {
        let s = Sessions::new();
        let id = s.create();
        let h = with_cookie(&format!("a=b; {COOKIE}={id}"));
        assert_eq!(s.gate("/ui/events", &h), Gate::Pass);
        assert_eq!(s.gate("/api/v1/events", &h), Gate::Refuse);
        assert_eq!(s.gate("/ui/events", &HeaderMap::new()), Gate::Login);
        assert_eq!(
            s.gate("/ui/events", &with_cookie(&format!("{COOKIE}=nope"))),
            Gate::Login
        );
        assert_eq!(s.gate("/ui/login", &HeaderMap::new()), Gate::Pass);
    }

    #[test]
    fn csrf_is_tied_to_the_session() {
        let s = Sessions::new();
        let a = with_cookie(&format!("{COOKIE}={}", s.create()));
        let b = with_cookie(&format!("{COOKIE}={}", s.create()));
        let ta = s.csrf(&a);
        assert!(s.csrf_ok(&a, Some(&ta)));
        assert!(!s.csrf_ok(&b, Some(&ta)));
        assert!(!s.csrf_ok(&a, None));
        let anon = s.csrf(&HeaderMap::new());
        assert!(s.csrf_ok(&HeaderMap::new(), Some(&anon)));
        assert_ne!(anon, Sessions::new().csrf(&HeaderMap::new()));
    }
}
