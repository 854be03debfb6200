//! The app's own health URL (`[app] health_url`): does the Panel app
//! answer 2xx? One GET with a timeout, through the HTTP client the
//! webhook alerts use (ureq: http and https), straight to the app: no
//! proxy, no redirect followed (a 302 is the answer). Any status is an answer;
//! only no answer at all is an error, in words that name the URL (its
//! password, if it carries one, masked).

use std::time::Duration;

/// GET `url` and return the status code, or what went wrong.
pub fn http_status(url: &str, timeout: Duration) -> Result<u16, String> {
    let shown = crate::config::mask_database_url(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "health URL {shown} is not an http:// or https:// URL"
        ));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // The app's own answer: a redirect (to a login page) is not
        // "healthy", and a proxy from the environment is not the app.
        .max_redirects(0)
        .proxy(None)
        .user_agent("lifeboat")
        .build()
        .into();
    match agent.get(url).call() {
        Ok(resp) => Ok(resp.status().as_u16()),
        Err(e) => Err(format!(
            "{shown}: no answer within {timeout:?}: {}",
            e.to_string().replace(url, &shown)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_of_a_real_server_and_names_a_dead_one() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            c.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&req).to_string()
        });
        let code = http_status(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(code, 503, "a status is an answer, not an error");
        assert!(t.join().unwrap().starts_with("GET /health HTTP/1.1"));
        // Nothing listens on the port any more: an error that names the
        // URL. (The port is free for anyone, so the exact words are not
        // the point.)
        let e =
            http_status(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).unwrap_err();
        assert!(e.contains(&format!("http://127.0.0.1:{port}/")), "{e}");
        // A redirect (to a login page, say) is the answer, not followed.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port2 = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf).unwrap();
            c.write_all(b"HTTP/1.1 302 Found\r\nlocation: /login\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
        });
        let code = http_status(
            &format!("http://127.0.0.1:{port2}/health"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(code, 302);
        t.join().unwrap();
        let e = http_status("ftp://x/", Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("not an http:// or https:// URL"), "{e}");
        // A password in the URL never shows.
        let e = http_status(
            &format!("http://app:s3cret@127.0.0.1:{port}/"),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
