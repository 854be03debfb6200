//! Alerts through the real binary to real receivers: an HTTP server in the
//! test (webhook) and Python's aiosmtpd (SMTP).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// What the receiver does with a request.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    /// Accept and read, never answer.
    Hang,
}

struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/services/T000/B000/secret-token",
            listener.local_addr().unwrap()
        );
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let (b, m) = (bodies.clone(), mode.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (b, m) = (b.clone(), m.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; len];
                    reader.read_exact(&mut body).unwrap();
                    if *m.lock().unwrap() == Mode::Hang {
                        std::thread::sleep(Duration::from_secs(30));
                        return;
                    }
                    b.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                });
            }
        });
        Receiver { url, bodies, mode }
    }

    fn take(&self) -> Vec<serde_json::Value> {
        std::mem::take(&mut *self.bodies.lock().unwrap())
    }
}

fn alerts_run(sb: &Sandbox) -> std::process::Output {
    sb.run(&["alerts", "run"])
}

#[test]
fn a_failed_backup_alerts_once_then_resolves_through_a_real_webhook() {
    let rx = Receiver::start();
    let sb = Sandbox::with_extra_config(&format!(
        "[alerts.webhook]\nurl = \"{}\"\ntimeout_seconds = 2\n",
        rx.url
    ));
    populate(&sb.app);
    // The logs directory disappears: the filesystem backup fails.
    let logs = sb.app.join("logs");
    std::fs::rename(&logs, sb.app.join("logs.moved")).unwrap();
    let out = sb.run(&["backup", "--type", "filesystem"]);
    assert!(!out.status.success());

    let out = alerts_run(&sb);
    assert!(out.status.success(), "{}", all_text(&out));
    let got = rx.take();
    let failed: Vec<_> = got
        .iter()
        .filter(|m| m["key"] == "job.backup.filesystem")
        .collect();
    assert_eq!(failed.len(), 1, "{got:?}");
    assert_eq!(failed[0]["status"], "critical");
    let text = failed[0]["text"].as_str().unwrap();
    assert!(text.contains("filesystem backup FAILED"), "{text}");
    assert!(
        text.contains("logs"),
        "the reason is in the message: {text}"
    );

    // Same condition: not sent again.
    let out = alerts_run(&sb);
    assert!(out.status.success());
    assert!(rx
        .take()
        .iter()
        .all(|m| m["key"] != "job.backup.filesystem"));

    // Fixed: one "resolved" message.
    std::fs::rename(sb.app.join("logs.moved"), &logs).unwrap();
    sb.backup("filesystem", &[]);
    alerts_run(&sb);
    let got = rx.take();
    let resolved: Vec<_> = got
        .iter()
        .filter(|m| m["key"] == "job.backup.filesystem")
        .collect();
    assert_eq!(resolved.len(), 1, "{got:?}");
    assert_eq!(resolved[0]["status"], "resolved");
    // The webhook secret never shows in output.
    let shown = sb.ok(&["config"]);
    assert!(!shown.contains("secret-token"), "{shown}");
}

#[test]
fn a_hanging_webhook_times_out_and_the_alert_is_retried() {
    let rx = Receiver::start();
    *rx.mode.lock().unwrap() = Mode::Hang;
    let sb = Sandbox::with_extra_config(&format!(
        "[alerts.webhook]\nurl = \"{}\"\ntimeout_seconds = 1\n",
        rx.url
    ));
    populate(&sb.app);
    std::fs::remove_dir_all(sb.app.join("logs")).unwrap();
    assert!(!sb.run(&["backup", "--type", "filesystem"]).status.success());

    let started = Instant::now();
    let out = alerts_run(&sb);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    let text = all_text(&out);
    assert!(text.contains("webhook POST"), "{text}");
    assert!(text.contains("retried"), "{text}");
    assert!(
        !text.contains("secret-token"),
        "no secret in errors: {text}"
    );
    assert!(took < Duration::from_secs(60), "did not hang: {took:?}");

    // The receiver recovers: the same alert goes out now.
    *rx.mode.lock().unwrap() = Mode::Ok;
    let out = alerts_run(&sb);
    assert!(out.status.success(), "{}", all_text(&out));
    let got = rx.take();
    assert!(
        got.iter()
            .any(|m| m["key"] == "job.backup.filesystem" && m["status"] == "critical"),
        "{got:?}"
    );
}

struct Smtpd {
    child: Child,
    port: u16,
    out: Arc<Mutex<String>>,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd on a free port, printing every message it receives.
fn smtpd() -> Option<Smtpd> {
    let have = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        if std::env::var("LIFEBOAT_REQUIRE_SMTP").is_ok_and(|v| v == "1") {
            panic!("aiosmtpd is required (LIFEBOAT_REQUIRE_SMTP=1): pip install aiosmtpd");
        }
        println!("skipped: Python's aiosmtpd is not installed (pip install aiosmtpd)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("python3")
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Debugging",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let o = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            o.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    wait_for(20, "aiosmtpd to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Some(Smtpd { child, port, out })
}

#[test]
fn email_goes_through_a_real_smtp_server_and_a_down_server_is_retried() {
    let Some(server) = smtpd() else { return };
    // First the server address is wrong (nothing listens): delivery fails,
    // is reported, and the backup itself was not affected.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let config = |port: u16| {
        format!(
            "[alerts.email]\nenabled = true\nrecipients = [\"oncall@example.com\"]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"lifeboat@example.com\"\ntimeout_seconds = 3\n"
        )
    };
    let sb = Sandbox::with_extra_config(&config(dead_port));
    populate(&sb.app);
    std::fs::remove_dir_all(sb.app.join("logs")).unwrap();
    assert!(!sb.run(&["backup", "--type", "filesystem"]).status.success());
    let out = alerts_run(&sb);
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    assert!(
        all_text(&out).contains("SMTP delivery through 127.0.0.1"),
        "{}",
        all_text(&out)
    );
    sb.generate_key();
    sb.backup("configuration", &["--name", "still-works"]);

    // The server comes back (the config now points at it): the alert that
    // failed is delivered.
    sb.write_config(&config(server.port));
    let out = alerts_run(&sb);
    assert!(out.status.success(), "{}", all_text(&out));
    let mail = wait_for(10, "the email to arrive", || {
        let o = server.out.lock().unwrap().clone();
        o.contains("filesystem backup FAILED").then_some(o)
    });
    assert!(mail.contains("oncall@example.com"), "{mail}");
    assert!(mail.contains("[lifeboat CRITICAL]"), "{mail}");
    // `alerts test` reaches it too.
    sb.ok(&["alerts", "test"]);
    wait_for(10, "the test email", || {
        server
            .out
            .lock()
            .unwrap()
            .contains("test message from")
            .then_some(())
    });
}

#[test]
fn a_condition_that_stays_bad_is_repeated_only_after_the_interval() {
    let rx = Receiver::start();
    let sb = Sandbox::with_extra_config(&format!(
        "[alerts]\nrepeat_minutes = 240\n[alerts.webhook]\nurl = \"{}\"\n",
        rx.url
    ));
    populate(&sb.app);
    std::fs::remove_dir_all(sb.app.join("logs")).unwrap();
    assert!(!sb.run(&["backup", "--type", "filesystem"]).status.success());
    let at = |hours: i64| {
        let now = (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339();
        let out = sb
            .cmd()
            .env("LIFEBOAT_NOW", now)
            .args(["alerts", "run"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_text(&out));
        rx.take()
            .into_iter()
            .filter(|m| m["key"] == "job.backup.filesystem")
            .count()
    };
    assert_eq!(at(0), 1, "first time: sent");
    assert_eq!(
        at(1),
        0,
        "an hour later: still the same condition, not repeated"
    );
    assert_eq!(at(5), 1, "past repeat_minutes: repeated");
    assert_eq!(at(6), 0);
    // The clock goes back: nothing floods out.
    assert_eq!(at(-3), 0);
}
