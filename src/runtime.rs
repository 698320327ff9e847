//! The running configuration: settings compiled into a router, catalog and templates.
//! Built and validated as a whole at start and on reload; swapped atomically.

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::deliver::limits::ChannelLimits;
use crate::render::Renderer;
use crate::route::Router;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

pub struct Runtime {
    pub settings: Settings,
    pub router: Router,
    pub catalog: Arc<Catalog>,
    pub renderer: Renderer,
    /// Channels with their secrets set; the others are skipped (with a warning).
    pub enabled: BTreeSet<String>,
    pub limits: BTreeMap<String, ChannelLimits>,
    /// Channels with `notify_resolved = false`.
    pub quiet_on_resolve: BTreeSet<String>,
    pub warnings: Vec<String>,
    /// What replicas compare to see they run the same routes and channels (a hash
    /// of their settings; secrets print redacted, so they are not part of it).
    pub config_digest: String,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("enabled", &self.enabled)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles and validates everything; errors name the route/channel and key.
    pub fn build(settings: Settings) -> Result<Runtime, Vec<String>> {
        let mut errors = vec![];
        let mut warnings = vec![];
        let router = match Router::compile(&settings) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let catalog = match &settings.catalog.path {
            Some(p) => match Catalog::load(p) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            },
            None => Some(Catalog::builtin()),
        };
        let template_dir = settings.templates.effective_dir();
        let loaded = match &template_dir {
            Some(dir) => Renderer::load(dir)
                .map_err(|e| format!("templates.dir {:?}: {e}", dir.display().to_string())),
            None => Renderer::builtin().map_err(|e| format!("built-in templates: {e}")),
        };
        let renderer = match loaded {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let mut enabled = BTreeSet::new();
        let mut limits = BTreeMap::new();
        let mut quiet_on_resolve = BTreeSet::new();
        for (name, ch) in &settings.channels {
            match crate::deliver::validate_channel(name, ch) {
                Ok(()) => {}
                Err(e) => errors.extend(e),
            }
            match ChannelLimits::from_settings(name, ch) {
                Ok(l) => {
                    limits.insert(name.clone(), l);
                }
                Err(e) => errors.push(e),
            }
            if ch.throttle().notify_resolved == Some(false) {
                quiet_on_resolve.insert(name.clone());
            }
            if ch.enabled() {
                enabled.insert(name.clone());
            } else {
                warnings.push(format!(
                    "channels.{name}: disabled (its {} is empty)",
                    ch.inner().switch_key().unwrap_or("secret")
                ));
            }
        }
        if !settings.admin.is_loopback() && settings.admin.tokens.is_empty() {
            errors.push(format!(
                "admin.tokens: required because admin.listen ({}) is not a loopback address",
                settings.admin.listen
            ));
        }
        if let Some(url) = &settings.store.url {
            use secrecy::ExposeSecret;
            let u = url.expose_secret();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
                || u.parse::<tokio_postgres::Config>().is_err()
            {
                errors.push(format!(
                    "store.url: expected postgres://user:password@host:5432/database, got {}",
                    crate::store::postgres::redact_url(u)
                ));
            }
        }
        if settings.delivery.lease.0 < std::time::Duration::from_secs(1) {
            errors.push("delivery.lease: must be at least 1s".into());
        }
        if !settings.twilio.verify_signature {
            warnings.push("twilio.verify_signature = false: anyone who can reach the endpoint can post events".into());
        } else if settings.twilio.auth_tokens.is_empty() && settings.twilio.shared_keys.is_empty() {
            errors.push("twilio.auth_tokens: no auth token configured; set TWILIO_AUTH_TOKEN or verify_signature = false".into());
        }
        if settings.twilio.public_url.is_none() && settings.twilio.verify_signature {
            warnings.push("twilio.public_url is not set: signatures are checked against a URL rebuilt from each request's Forwarded / X-Forwarded-Proto / X-Forwarded-Host / Host headers, which only a proxy that overwrites them makes trustworthy; set it to the URL configured in Twilio".into());
        }
        if settings.slack.signing_secret().is_some()
            && !crate::deliver::slack_buttons::any_app_channel(&settings)
        {
            warnings.push("slack.signing_secret: no Slack channel is in app mode (bot_token + channel), so no alert carries buttons".into());
        }
        errors.extend(crate::ingest::check::settings(&settings));
        if let Some(url) = &settings.twilio.public_url {
            if url.len() > 100 {
                warnings.push(format!("twilio.public_url is {} characters; Twilio's Debugger webhook allows at most 100", url.len()));
            }
            if url::Url::parse(url).is_err() {
                errors.push(format!("twilio.public_url: {url:?} is not a URL"));
            }
        }
        if let Some(r) = &router {
            warnings.extend(r.warnings());
            let used: BTreeSet<&str> = r
                .routes()
                .iter()
                .chain(r.fallback())
                .flat_map(|r| r.channels.iter().map(String::as_str))
                .collect();
            for name in settings.channels.keys() {
                if !used.contains(name.as_str()) {
                    warnings.push(format!("channels.{name}: no route uses it"));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        match (router, catalog, renderer) {
            (Some(router), Some(catalog), Some(renderer)) => {
                warnings.extend(template_references(&router, &renderer, &settings));
                let config_digest = {
                    use sha2::Digest;
                    let text = format!("{:?}{:?}", settings.routes, settings.channels);
                    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8])
                };
                Ok(Runtime {
                    config_digest,
                    settings,
                    router,
                    catalog: Arc::new(catalog),
                    renderer,
                    enabled,
                    limits,
                    quiet_on_resolve,
                    warnings,
                })
            }
            _ => Err(vec!["configuration is invalid".into()]),
        }
    }
}

/// The current runtime, replaced on reload; readers take a cheap `Arc` snapshot.
#[derive(Debug, Clone)]
pub struct Shared(Arc<RwLock<Arc<Runtime>>>);

impl Shared {
    pub fn new(rt: Runtime) -> Self {
        Self::new_arc(Arc::new(rt))
    }
    pub fn new_arc(rt: Arc<Runtime>) -> Self {
        Shared(Arc::new(RwLock::new(rt)))
    }
    pub fn get(&self) -> Arc<Runtime> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
    pub fn set(&self, rt: Arc<Runtime>) {
        match self.0.write() {
            Ok(mut g) => *g = rt,
            Err(p) => *p.into_inner() = rt,
        }
    }
}

/// Routes naming a `template` that no file provides: the default is used instead,
/// which is almost always a typo.
fn template_references(router: &Router, renderer: &Renderer, settings: &Settings) -> Vec<String> {
    let names = renderer.template_names();
    let bases: Vec<&str> = names
        .iter()
        .filter_map(|n| {
            crate::render::Kind::ALL
                .iter()
                .flat_map(|k| k.parts())
                .find_map(|s| n.strip_suffix(s)?.strip_suffix('.'))
        })
        .collect();
    router
        .routes()
        .iter()
        .filter_map(|r| {
            let t = r.template.as_deref()?;
            (!bases.contains(&t)).then(|| {
                let place = match settings.templates.effective_dir() {
                    Some(d) => format!("in {}", d.display()),
                    None => "(no templates folder: templates.dir is unset and ./templates does not exist)".into(),
                };
                format!(
                    "routes[{}] ({:?}).template: no template named {t:?} {place}; expected {t}.<kind>.hbs, the default templates are used",
                    r.index.unwrap_or_default(),
                    r.name,
                )
            })
        })
        .collect()
}
