//! A small W3C WebDriver client for the console tests: starts the system's
//! chromedriver on a free port and drives headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by scripts/test-deps.sh). Under `CI=true` a missing
//! browser fails the test; elsewhere the browser tests say so and return.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find_program(env: &str, default: &str) -> Option<String> {
    let p = std::env::var(env).unwrap_or_else(|_| default.to_string());
    std::path::Path::new(&p).exists().then_some(p)
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; None (outside CI) when
    /// they are not installed.
    pub async fn start() -> Option<Browser> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let (Some(driver), Some(chromium)) = (
            find_program("TWILERT_CHROMEDRIVER", "/usr/bin/chromedriver"),
            find_program("TWILERT_CHROMIUM", "/usr/bin/chromium"),
        ) else {
            assert!(!ci, "CI=true: chromium and chromedriver are required (run scripts/test-deps.sh as root)");
            eprintln!("console browser test: /usr/bin/chromium or /usr/bin/chromedriver missing (scripts/test-deps.sh installs them); not run");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut b = Browser {
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
            driver: child,
            _profile: profile,
        };
        let up = super::helpers::eventually(Duration::from_secs(10), || async {
            b.http
                .get(format!("{}/status", b.base))
                .send()
                .await
                .is_ok()
        })
        .await;
        assert!(up, "chromedriver did not start");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", b._profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args }
        }}});
        let v = b.call("POST", "/session", Some(caps)).await;
        let id = v["value"]["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_string();
        b.base = format!("{}/session/{id}", b.base);
        Some(b)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body.unwrap_or(json!({}))),
        };
        let r = req.send().await.expect("webdriver request");
        let v: Value = r.json().await.expect("webdriver answer");
        if let Some(err) = v["value"].get("error") {
            panic!("webdriver {method} {path}: {err} {}", v["value"]["message"]);
        }
        v
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.call("GET", "/url", None).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.call("GET", "/source", None).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.call("GET", "/title", None).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        match v["value"][ELEMENT].as_str() {
            Some(id) => id.to_string(),
            None => panic!("no element {css:?} on {}: {v}", self.url().await),
        }
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call("GET", &format!("/element/{id}/text"), None).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let v = self
            .script(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)",
                json!([css]),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Clicks a submit button and waits for the page it leads to (a click returns
    /// before the form's navigation is done).
    pub async fn submit(&self, css: &str) {
        self.script("window.__twilertOldPage = true", json!([]))
            .await;
        let id = self.find(css).await;
        self.call("POST", &format!("/element/{id}/click"), None)
            .await;
        let loaded = super::helpers::eventually(Duration::from_secs(10), || async {
            self.script(
                "return typeof window.__twilertOldPage === 'undefined' && document.readyState === 'complete'",
                json!([]),
            )
            .await
                == json!(true)
        })
        .await;
        assert!(loaded, "submitting {css} led to no new page");
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Runs `js` (a function body; `arguments` are `args`) and returns its result.
    pub async fn script(&self, js: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": args })),
        )
        .await["value"]
            .clone()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap_or_default())
            .expect("png")
    }
}

impl Drop for Browser {
    /// Ends the session (so chromedriver closes Chromium), then stops chromedriver;
    /// also when a test panicked, so no browser outlives its test.
    fn drop(&mut self) {
        end_session(&self.base);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` without an async runtime (Drop).
fn end_session(base: &str) {
    use std::io::{Read, Write};
    let Some(rest) = base.strip_prefix("http://") else {
        return;
    };
    let Some((host, path)) = rest.split_once('/') else {
        return;
    };
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    // The answer comes once the browser is closed; chromedriver may keep the
    // connection open after it, so read the answer, not to the end.
    let mut answer = [0u8; 4096];
    let _ = s.read(&mut answer);
}
