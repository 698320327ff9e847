//! The CLI's client of a running service's admin listener: what the commands that
//! write (`dead-letters retry`, `silence add|expire`) use while that service holds
//! a SQLite store (one writer), with the first configured admin token.

use serde_json::Value;

/// One request to the running service's admin listener, with the first configured
/// admin token: (status, JSON body).
pub(super) fn request(
    s: &crate::config::Settings,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    use secrecy::ExposeSecret;
    let url = format!("http://{}{path}", s.admin.listen);
    let token = s
        .admin
        .tokens
        .iter()
        .map(|t| t.expose_secret().to_string())
        .find(|t| !t.is_empty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut req = reqwest::Client::new().request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| {
            format!(
                "the store is held by a running twilert, but its admin listener ({}) did not answer: {}",
                s.admin.listen,
                e.without_url()
            )
        })?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or_default();
        Ok((status, v))
    })
}
