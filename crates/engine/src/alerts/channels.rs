//! Where alerts go: SMTP (lettre) and a webhook (ureq). Both have timeouts,
//! and neither puts a password or a webhook secret into an error message.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message as Mail, SmtpTransport, Transport};

use super::Message;
use crate::config::{mask_url_secret, EmailAlerts, WebhookAlerts};

/// A delivery channel.
pub trait Channel {
    fn name(&self) -> &str;
    fn send(&self, msg: &Message) -> Result<(), String>;
}

/// Email over SMTP.
pub struct Email {
    config: EmailAlerts,
}

impl Email {
    pub fn new(config: &EmailAlerts) -> Email {
        Email {
            config: config.clone(),
        }
    }

    /// host:port of the SMTP URL, for messages (never the credentials).
    fn server(&self) -> String {
        let rest = self
            .config
            .smtp_url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.config.smtp_url);
        let hostport = rest.split(['/', '?']).next().unwrap_or("");
        hostport.rsplit('@').next().unwrap_or(hostport).to_string()
    }

    fn transport(&self) -> Result<SmtpTransport, String> {
        let server = self.server();
        let mut builder = SmtpTransport::from_url(&self.config.smtp_url).map_err(|e| {
            format!(
                "invalid [alerts.email] smtp_url for {server}: {}",
                scrub(&e.to_string(), &self.config.smtp_url)
            )
        })?;
        if let Ok(pw) = std::env::var("LIFEBOAT_SMTP_PASSWORD") {
            let user = url_user(&self.config.smtp_url).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user, pw));
        }
        Ok(builder
            .timeout(Some(Duration::from_secs(u64::from(
                self.config.timeout_seconds,
            ))))
            .build())
    }
}

impl Channel for Email {
    fn name(&self) -> &str {
        "email"
    }

    fn send(&self, msg: &Message) -> Result<(), String> {
        let server = self.server();
        let from: Mailbox =
            self.config.from.parse().map_err(|e| {
                format!("invalid [alerts.email] from \"{}\": {e}", self.config.from)
            })?;
        let mut b = Mail::builder().from(from).subject(msg.subject());
        for r in &self.config.recipients {
            let to: Mailbox = r
                .parse()
                .map_err(|e| format!("invalid recipient \"{r}\": {e}"))?;
            b = b.to(to);
        }
        let mail = b
            .body(msg.text())
            .map_err(|e| format!("cannot build the alert email: {e}"))?;
        let transport = self.transport()?;
        transport.send(&mail).map(|_| ()).map_err(|e| {
            format!(
                "SMTP delivery through {server} failed: {}",
                scrub(&e.to_string(), &self.config.smtp_url)
            )
        })
    }
}

fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split('/').next()?.rsplit_once('@')?.0;
    Some(auth.split(':').next().unwrap_or("").to_string())
}

/// Remove the URL (which may hold a password or a webhook secret) from an
/// error text.
fn scrub(text: &str, url: &str) -> String {
    if url.is_empty() {
        return text.to_string();
    }
    text.replace(url, &mask_url_secret(url))
}

/// JSON POST: generic fields plus Slack's `text`.
pub struct Webhook {
    config: WebhookAlerts,
}

impl Webhook {
    pub fn new(config: &WebhookAlerts) -> Webhook {
        Webhook {
            config: config.clone(),
        }
    }
}

impl Channel for Webhook {
    fn name(&self) -> &str {
        "webhook"
    }

    fn send(&self, msg: &Message) -> Result<(), String> {
        let shown = mask_url_secret(&self.config.url);
        let body = serde_json::json!({
            "text": format!("{}\n{}", msg.subject(), msg.detail),
            "source": "lifeboat",
            "key": msg.key,
            "status": msg.status,
            "title": msg.title,
            "detail": msg.detail,
            "host": msg.host,
            "at": msg.at.to_rfc3339(),
        })
        .to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(u64::from(
                self.config.timeout_seconds,
            ))))
            .build()
            .into();
        agent
            .post(&self.config.url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "webhook POST to {shown} failed: {}",
                    scrub(&e.to_string(), &self.config.url)
                )
            })
    }
}
