//! The app's health URL, checked with a plain HTTP/1.0 GET over a
//! `TcpStream` with timeouts: enough to ask "does the Panel app answer
//! 2xx again?" without pulling an HTTP client into the binary.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// GET `url` (http:// only) and return the status line's code, or what
/// went wrong in words that name the URL.
pub fn http_get(url: &str, timeout: Duration) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("health URL {url} is not a plain http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("health URL {url} has no host"));
    }
    let with_port = if authority
        .rsplit(':')
        .next()
        .is_some_and(|p| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<_> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the host of {url}: {e}"))?
        .collect();
    let mut last = format!("{url}: no address to connect to");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                let req = format!(
                    "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: lifeboat\r\nConnection: close\r\n\r\n"
                );
                s.write_all(req.as_bytes())
                    .map_err(|e| format!("{url}: sending the request failed: {e}"))?;
                let mut head = Vec::new();
                let mut buf = [0u8; 512];
                while !head.contains(&b'\n') && head.len() < 4096 {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                        Err(e) => return Err(format!("{url}: no answer within {timeout:?}: {e}")),
                    }
                }
                let line = String::from_utf8_lossy(&head);
                let line = line.lines().next().unwrap_or("");
                return line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse::<u16>().ok())
                    .filter(|_| line.starts_with("HTTP/"))
                    .ok_or_else(|| format!("{url} did not answer HTTP (got {line:?})"));
            }
            Err(e) => last = format!("cannot connect to {url} ({addr}): {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_of_a_real_server_and_names_a_dead_one() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            c.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
                .unwrap();
            req
        });
        let code = http_get(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(code, 503);
        assert!(t.join().unwrap().starts_with("GET /health HTTP/1.0"));
        // Nothing listens on the port any more: an error that names the
        // URL. (Usually "cannot connect"; the port is free for anyone, and
        // a connect to a free ephemeral port can even meet itself, so the
        // exact words are not the point.)
        let e = http_get(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5)).unwrap_err();
        assert!(e.contains(&format!("http://127.0.0.1:{port}/")), "{e}");
        assert!(http_get("https://x/", Duration::from_secs(1))
            .unwrap_err()
            .contains("not a plain http://"));
    }
}
