//! The one escaping helper and the page frame every console page uses. Event text
//! (messages, resource Sids, raw payloads) only ever reaches a page through [`esc`].

use std::fmt::Write;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a query-string value.
pub fn url_enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Unix ms as `2026-12-01T10:22:40Z` (`-` for none).
pub fn time(ms: Option<i64>) -> String {
    match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_seconds(t).to_string()
        }
        None => "-".into(),
    }
}

/// Which navigation link is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Events,
    Groups,
    DeadLetters,
    Silences,
    RouteTester,
    /// Login and error pages: no navigation.
    None,
}

/// Navigation: plain names (SPEC 15).
const LINKS: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/ui/", "Overview"),
    (Nav::Events, "/ui/events", "Events"),
    (Nav::Groups, "/ui/groups", "Groups"),
    (Nav::DeadLetters, "/ui/dead-letters", "Dead letters"),
    (Nav::Silences, "/ui/silences", "Silences"),
    (Nav::RouteTester, "/ui/route-tester", "Route tester"),
];

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#fafbfc}\
header{background:#1b1f24;color:#fff;padding:.5rem 1rem;display:flex;gap:1.2rem;align-items:center}\
header a{color:#cfd8e3;text-decoration:none}header a.here{color:#fff;font-weight:600}\
header .brand{font-weight:700;color:#fff;margin-right:1rem}main{padding:1rem 1.5rem;max-width:80rem}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e1e4e8;vertical-align:top;font-size:.9rem}\
th{background:#f0f2f5}code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{background:#f0f2f5;padding:.6rem;overflow:auto;white-space:pre-wrap;word-break:break-all}\
.ok{color:#1a7f37}.bad{color:#cf222e}.warn{color:#9a6700}.error{color:#cf222e}.muted{color:#6e7781}\
form.inline{display:inline}input,select,button,textarea{font:inherit}fieldset{border:1px solid #e1e4e8;margin:0 0 1rem}\
.sum td{font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}";

/// A whole page: frame, navigation and `body` (already escaped HTML).
pub fn page(title: &str, nav: Nav, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · twilert</title><style>{STYLE}</style></head><body><header><span class=\"brand\">twilert</span>",
        esc(title)
    );
    if nav != Nav::None {
        for (n, href, label) in LINKS {
            let class = if n == nav { " class=\"here\"" } else { "" };
            let _ = write!(out, "<a href=\"{href}\"{class}>{label}</a>");
        }
        out.push_str("<a href=\"/ui/login\" style=\"margin-left:auto\">Session</a>");
    }
    let _ = write!(
        out,
        "</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// An HTML response.
pub fn respond(title: &str, nav: Nav, body: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Content-Security-Policy", csp()))
        .body(page(title, nav, body))
}

/// The overview's own live refresh (the only script of the console): reloads the
/// page every 10 s while it is visible. Without JavaScript the page is the same, static.
pub const REFRESH_SCRIPT: &str =
    "setInterval(function(){if(!document.hidden){location.reload();}},10000);";

/// The Silences form's live count: while the form is edited, asks
/// `/ui/silences/preview` (same origin, read-only) what the silence would match and
/// shows the answer as text. Without JavaScript, the form's Preview button does it.
pub const SILENCE_SCRIPT: &str = "(function(){var f=document.getElementById('new-silence'),o=document.getElementById('live-count');if(!f||!o||!window.fetch){return;}var t;function u(){clearTimeout(t);t=setTimeout(function(){var q=new URLSearchParams(new FormData(f));q.delete('csrf');fetch('/ui/silences/preview?'+q.toString(),{credentials:'same-origin'}).then(function(r){return r.json();}).then(function(j){o.textContent=j.text;}).catch(function(){});},300);}f.addEventListener('input',u);u();})();";

/// Pages run only [`REFRESH_SCRIPT`] and [`SILENCE_SCRIPT`] (allowed by their
/// hashes), fetch only from this listener, and load nothing from elsewhere: an
/// injected `<script>` or `onerror=` would not run even if escaping failed.
pub fn csp() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        let hash = |s: &str| base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s));
        format!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; script-src 'sha256-{}' 'sha256-{}'",
            hash(REFRESH_SCRIPT),
            hash(SILENCE_SCRIPT)
        )
    })
}

/// An error page with the status of `e`.
pub fn error_page(e: &super::ViewError) -> actix_web::HttpResponse {
    let status = match e {
        super::ViewError::Field { .. } => actix_web::http::StatusCode::BAD_REQUEST,
        super::ViewError::NotFound(_) => actix_web::http::StatusCode::NOT_FOUND,
        super::ViewError::Store(_) => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
    };
    actix_web::HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", csp()))
        .body(page(
            "Error",
            Nav::Overview,
            &format!("<p class=\"error\">{}</p>", esc(&e.to_string())),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let s = esc("<script>x()</script><img src=x onerror=\"a('b')\">&");
        assert!(!s.contains('<') && !s.contains('"') && !s.contains('\''));
        assert!(s.contains("&lt;script&gt;"));
        assert_eq!(time(Some(0)), "1970-01-01T00:00:00Z");
    }
}
