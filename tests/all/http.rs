//! A tiny HTTP/1.1 server on 127.0.0.1 for the http and openai step tests: it answers
//! each POST with a handler's (status, body) and remembers every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// (path, body, Authorization header) of each request.
type Requests = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

pub struct Server {
    addr: String,
    requests: Requests,
}

impl Server {
    /// Starts serving on a free port; the thread ends with the test process.
    pub fn start(handler: impl Fn(&str, String) -> (u16, String) + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let requests: Requests = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (mut length, mut auth) = (0usize, None);
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap_or((&header, ""));
                    match name.trim().to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "authorization" => auth = Some(value.trim().to_string()),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).into_owned();
                seen.lock()
                    .unwrap()
                    .push((path.clone(), body.clone(), auth));
                let (status, answer) = handler(&path, body);
                let reason = match status {
                    200 => "OK",
                    503 => "Service Unavailable",
                    _ => "Status",
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Server { addr, requests }
    }

    pub fn url(&self) -> &str {
        &self.addr
    }

    pub fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
}
