//! Email over SMTP (lettre, async tokio, pooled connections): multipart/alternative
//! text then HTML, a deterministic Message-ID on the sender's domain, digests
//! threaded to the group's first alert (`In-Reply-To`, `References`) and
//! `Auto-Submitted: auto-generated` (SPEC 6). 2xx reply success; SMTP 4xx,
//! network, TLS: retry; SMTP 5xx permanent (530/534/535 auth: channel broken).
//!
//! `smtp_url`: `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]`
//! (STARTTLS; `required` when `tls` is left out; port 587, or 25 with `none`)
//! or `smtps://[user:pass@]host[:port]` (TLS from the start, port 465).

use super::channel::{Attempt, Channel, ChannelConfig, SendFuture};
use super::{Delivery, Receipt};
use crate::config::{EmailChannel, Throttle};
use crate::kinds::KindInfo;
use crate::render::{Kind, Payload};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

mod thread;
use thread::ascii_domain;
pub use thread::{thread_ids, ThreadIds};

impl ChannelConfig for EmailChannel {
    fn kind(&self) -> &'static KindInfo {
        KindInfo::of(Kind::Email)
    }
    fn throttle(&self) -> Throttle {
        crate::throttle_of!(self)
    }
    fn secrets(&self) -> Vec<&SecretString> {
        vec![&self.smtp_url]
    }
    fn validate(&self, name: &str) -> Vec<String> {
        // An empty smtp_url switches the channel off: nothing else to check then.
        if self.smtp_url.expose_secret().trim().is_empty() {
            return vec![];
        }
        check(name, self).err().unwrap_or_default()
    }
    /// Call inside a tokio runtime: the connection pool starts its cleanup task here.
    fn build(&self, name: &str, _http: &reqwest::Client) -> Result<Box<dyn Channel>, String> {
        Email::new(name, self).map(|e| Box::new(e) as Box<dyn Channel>)
    }
}

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    /// Right-hand side of our Message-IDs: the sender's domain, ASCII.
    domain: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Email {{ smtp_url: [hidden], from: {:?}, to: {:?}, cc: {:?} }}",
            self.from.to_string(),
            self.to.iter().map(ToString::to_string).collect::<Vec<_>>(),
            self.cc.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    }
}

/// Addresses and the SMTP URL of an email channel, checked. Messages name the
/// key and never contain the URL (it may hold a password).
pub struct Checked {
    pub builder: AsyncSmtpTransportBuilder,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
}

pub fn check(name: &str, c: &EmailChannel) -> Result<Checked, Vec<String>> {
    let mut errors = vec![];
    let url = transport_builder(c.smtp_url.expose_secret())
        .map_err(|e| errors.push(format!("channels.{name}.smtp_url: {e} (value hidden)")))
        .ok();
    let mut mailbox = |key: String, v: &str| match v.trim().parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push(format!(
                "channels.{name}.{key}: {v:?} is not an email address ({e})"
            ));
            None
        }
    };
    let from = mailbox("from".into(), &c.from);
    let to: Vec<_> =
        c.to.iter()
            .enumerate()
            .filter_map(|(i, v)| mailbox(format!("to[{i}]"), v))
            .collect();
    let cc: Vec<_> =
        c.cc.iter()
            .enumerate()
            .filter_map(|(i, v)| mailbox(format!("cc[{i}]"), v))
            .collect();
    if c.to.is_empty() {
        errors.push(format!("channels.{name}.to: needs at least one address"));
    }
    match (url, from) {
        (Some(builder), Some(from)) if errors.is_empty() => Ok(Checked {
            builder,
            from,
            to,
            cc,
        }),
        _ => Err(errors),
    }
}

/// lettre's builder for `url` with our defaults (`tls=required`, `tls=none`).
fn transport_builder(raw: &str) -> Result<AsyncSmtpTransportBuilder, String> {
    let mut url = url::Url::parse(raw.trim()).map_err(|_| "not a URL".to_string())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    let mut tls = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "tls" if tls.is_none() => tls = Some(v.into_owned()),
            "tls" => return Err("`tls` is given twice".into()),
            other => {
                return Err(format!(
                    "unknown parameter {other:?} (only `tls` is understood)"
                ))
            }
        }
    }
    let tls = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("required")) => Some("required"),
        ("smtp", Some("opportunistic")) => Some("opportunistic"),
        ("smtp", Some("none")) => None,
        ("smtps", None | Some("required")) => None,
        ("smtp", Some(other)) => {
            return Err(format!(
                "tls={other:?}: expected required, opportunistic or none"
            ))
        }
        ("smtps", Some(other)) => {
            return Err(format!(
                "tls={other:?} contradicts smtps:// (TLS from the first byte)"
            ))
        }
        (scheme, _) => return Err(format!("scheme {scheme:?}: expected smtp or smtps")),
    };
    match tls {
        Some(t) => url.set_query(Some(&format!("tls={t}"))),
        None => url.set_query(None),
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
        // lettre's messages name the scheme or the TLS setup, never the URL.
        .map_err(|e| format!("cannot set up SMTP: {e}"))
}

impl Email {
    /// Call inside a tokio runtime: the connection pool starts its cleanup task here.
    pub fn new(name: &str, c: &EmailChannel) -> Result<Email, String> {
        let checked = check(name, c).map_err(|e| e.join("; "))?;
        let domain = ascii_domain(checked.from.email.domain());
        Ok(Email {
            transport: checked.builder.build(),
            from: checked.from,
            to: checked.to,
            cc: checked.cc,
            domain,
        })
    }

    async fn deliver(&self, a: Attempt<'_>) -> Delivery {
        let Some((subject, text, html)) =
            email_parts(&a.rendered.payload).or_else(|| email_parts(a.plain))
        else {
            return Delivery::permanent("no email to send (renderer produced no email payload)");
        };
        let ids = thread_ids(a.notification, &self.domain);
        let message_id = ids.message_id.clone();
        let message = match self.message(ids, subject, text, html) {
            Ok(m) => m,
            Err(e) => return Delivery::permanent(format!("cannot build the email: {e}")),
        };
        // The conversation runs in its own task: if the worker's timeout drops this
        // future, the SMTP exchange still ends cleanly (bounded by lettre's command
        // timeout) instead of returning a half-spoken connection to the pool. Such a
        // late success is retried and may arrive twice, with the same Message-ID.
        let transport = self.transport.clone();
        match tokio::spawn(async move { transport.send(message).await }).await {
            Ok(Ok(_)) => Delivery::Sent {
                receipt: Some(Receipt::Email { message_id }),
            },
            Ok(Err(e)) => classify(
                e.is_permanent(),
                e.status().map(|c| c.to_string()).as_deref(),
                format!("SMTP {e}"),
            ),
            Err(e) => Delivery::retry(format!("SMTP task failed: {e}")),
        }
    }

    fn message(
        &self,
        ids: ThreadIds,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<Message, lettre::error::Error> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(ids.message_id))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            // Outlook/Exchange: no out-of-office or other auto-replies to alerts.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".into(),
            ));
        for m in &self.to {
            b = b.to(m.clone());
        }
        for m in &self.cc {
            b = b.cc(m.clone());
        }
        if let Some(root) = ids.thread_root {
            b = b.in_reply_to(root.clone()).references(root);
        }
        b.multipart(MultiPart::alternative_plain_html(
            text.to_string(),
            html.to_string(),
        ))
    }
}

impl Channel for Email {
    fn send<'a>(&'a self, a: Attempt<'a>) -> SendFuture<'a> {
        Box::pin(self.deliver(a))
    }
}

/// An SMTP failure: 5xx permanent (530/534/535/538, authentication: the channel is
/// broken); 4xx replies, network, TLS, timeouts, a server that went away: retry.
fn classify(permanent: bool, code: Option<&str>, reason: String) -> Delivery {
    match (permanent, code) {
        (true, Some("530" | "534" | "535" | "538")) => Delivery::Broken { reason },
        (true, _) => Delivery::Permanent { reason },
        (false, _) => Delivery::retry(reason),
    }
}

/// Subject, text and HTML of an email payload.
fn email_parts(p: &Payload) -> Option<(&str, &str, &str)> {
    match p {
        Payload::Email {
            subject,
            text,
            html,
        } => Some((subject, text, html)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(url: &str) -> EmailChannel {
        EmailChannel {
            smtp_url: SecretString::from(url),
            from: "Twilert <alerts@example.com>".into(),
            to: vec!["oncall@example.com".into()],
            cc: vec![],
            rate_limit: None,
            burst: None,
            max_pending: None,
            notify_resolved: None,
        }
    }

    #[test]
    fn smtp_urls() {
        for ok in [
            "smtp://localhost:2525?tls=none",
            "smtp://user:p%40ss@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtp://mail.example.com",
            "smtps://user:pass@mail.example.com",
        ] {
            assert!(transport_builder(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://mail.example.com", "scheme"),
            ("smtp://mail.example.com?tls=maybe", "tls="),
            ("smtps://mail.example.com?tls=none", "contradicts"),
            ("smtp://mail.example.com?tsl=none", "unknown parameter"),
            ("not a url", "not a URL"),
        ] {
            match transport_builder(bad) {
                Err(e) => assert!(e.contains(why), "{bad}: {e}"),
                Ok(_) => panic!("{bad} accepted"),
            }
        }
    }

    #[test]
    fn smtp_classification() {
        let r = || "SMTP x".to_string();
        assert_eq!(
            classify(true, Some("535"), r()),
            Delivery::Broken { reason: r() }
        );
        assert_eq!(
            classify(true, Some("550"), r()),
            Delivery::Permanent { reason: r() }
        );
        assert_eq!(classify(false, Some("451"), r()), Delivery::retry(r()));
        assert_eq!(classify(false, None, r()), Delivery::retry(r()));
    }

    #[test]
    fn check_hides_the_url_and_names_keys() {
        let mut c = channel("smtp://user:hunter2@mail.example.com:25?tls=bogus");
        c.from = "not an address".into();
        c.to = vec![];
        c.cc = vec!["also bad".into()];
        let errors = check("ops", &c).err().expect("errors");
        let all = errors.join("\n");
        assert!(
            !all.contains("hunter2") && !all.contains("mail.example.com"),
            "{all}"
        );
        for key in [
            "channels.ops.smtp_url",
            "channels.ops.from",
            "channels.ops.to",
            "channels.ops.cc[0]",
        ] {
            assert!(all.contains(key), "{key} in {all}");
        }
    }

    #[tokio::test]
    async fn debug_hides_the_url() {
        let e = Email::new(
            "ops",
            &channel("smtp://user:hunter2@mail.example.com?tls=none"),
        )
        .expect("builds");
        let dbg = format!("{e:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("mail.example.com"),
            "{dbg}"
        );
    }
}
