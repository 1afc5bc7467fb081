//! The CLI wallet's user agent: the system browser with a loopback redirect
//! (RFC 8252 §7.3). The wallet listens on 127.0.0.1, opens the authorization
//! URL in the browser (or prints it), and waits for the redirect.

use avow_wallet::WalletError;
use avow_wallet::authorize::{AgentFuture, UserAgent};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

pub struct LoopbackBrowser {
    listener: Mutex<TcpListener>,
    port: u16,
    timeout: Duration,
}

impl LoopbackBrowser {
    pub async fn bind(timeout: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener: Mutex::new(listener),
            port,
            timeout,
        })
    }
}

const DONE_PAGE: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Avow wallet</title>\
<p>The wallet received the issuer's answer. You can close this window.</p></html>";

impl UserAgent for LoopbackBrowser {
    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    fn authorize<'a>(&'a self, authorization_url: &'a str) -> AgentFuture<'a> {
        Box::pin(async move {
            eprintln!(
                "Open this URL in your browser to log in at the issuer:\n  {authorization_url}"
            );
            // Best effort: a desktop session opens it by itself.
            let _ = std::process::Command::new("xdg-open")
                .arg(authorization_url)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            let listener = self.listener.lock().await;
            let wait = async {
                loop {
                    let (mut stream, _) = listener
                        .accept()
                        .await
                        .map_err(|e| WalletError::Transport(e.to_string()))?;
                    let mut buf = vec![0u8; 16 * 1024];
                    let n = stream
                        .read(&mut buf)
                        .await
                        .map_err(|e| WalletError::Transport(e.to_string()))?;
                    let head =
                        String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
                    let target = head
                        .lines()
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or("")
                        .to_owned();
                    if !target.starts_with("/callback") {
                        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                        continue;
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{DONE_PAGE}",
                        DONE_PAGE.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    return Ok(format!("http://127.0.0.1:{}{target}", self.port));
                }
            };
            tokio::time::timeout(self.timeout, wait)
                .await
                .map_err(|_| WalletError::Transport("no answer from the browser in time".into()))?
        })
    }
}
