//! The demo's client: one GET per connection, over std's TCP, reading the
//! status and headers a user would look at.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Names as the gateway sent them, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// `GET path` to `addr` (`IP:port`), `connection: close`.
pub fn get(addr: &str, path: &str) -> Result<Reply> {
    let mut conn = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    let limit = Some(Duration::from_secs(10));
    conn.set_read_timeout(limit)?;
    conn.set_write_timeout(limit)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: demo.local\r\nuser-agent: cargo-xtask-demo\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes())
        .with_context(|| format!("cannot send GET {path} to {addr}"))?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .with_context(|| format!("no answer to GET {path} from {addr} within 10 s"))?;
    parse(&raw).with_context(|| format!("GET {path} on {addr}"))
}

fn parse(raw: &[u8]) -> Result<Reply> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!(
            "the answer has no complete head: {:?}",
            String::from_utf8_lossy(raw)
        );
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let Some(status) = first.split(' ').nth(1).and_then(|s| s.parse().ok()) else {
        bail!("not an HTTP status line: {first:?}");
    };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = String::from_utf8_lossy(&raw[end + 4..]).into_owned();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse;

    #[test]
    fn status_and_headers_are_read_from_the_head() {
        let r =
            parse(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nx-a: b\r\n\r\n{}").unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.headers[0], ("Retry-After".to_string(), "7".to_string()));
    }
}
