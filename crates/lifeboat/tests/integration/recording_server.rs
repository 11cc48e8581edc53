//! A loopback HTTP/1.1 server that records every request it receives and answers each
//! with the status and body a test chose: the Pushgateway of the metrics tests and the
//! OTLP collector of the traces tests. One request per connection (it answers with
//! `Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// One request the server received.
pub struct Received {
    /// `POST /path HTTP/1.1`.
    pub request_line: String,
    /// Names lowercased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The first header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Starts a server that answers its `n`th request (from 0) with `answer(n)`, a status
/// line such as `200 OK` and a body, and stops when that is `None`. Returns its base
/// URL (`http://127.0.0.1:PORT`) and what it receives, in order.
pub fn start(
    answer: impl Fn(usize) -> Option<(&'static str, &'static str)> + Send + 'static,
) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for n in 0.. {
            let Some((status, text)) = answer(n) else {
                return;
            };
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let value = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v): &(String, String)| v.clone())
                    .unwrap_or_default()
            };
            // curl asks before it sends a large body.
            if value("expect").eq_ignore_ascii_case("100-continue") {
                let _ = reader.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let length: usize = value("content-length").parse().unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            // Recorded before it is answered: once the client has its answer, the
            // request is there to read.
            let _ = tx.send(Received {
                request_line: request_line.trim_end().to_string(),
                headers,
                body,
            });
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.flush();
        }
    });
    (format!("http://127.0.0.1:{port}"), rx)
}

/// A port nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}
