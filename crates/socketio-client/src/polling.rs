//! Engine.IO long-polling for the client: HTTP/1.1 requests on two keep-alive connections
//! (one for the parked GET, one for POSTs), and the v4 payload both ways.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use switchboard_ws_tokio::{connect_stream, WsUrl};

use crate::core::Frame;

/// The record separator between the packets of a v4 payload.
const SEPARATOR: char = '\u{1e}';

/// Where polling requests go, and what they carry besides their body.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    url: WsUrl,
    headers: Vec<(String, String)>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The largest response body accepted.
    max_body: usize,
}

impl Target {
    /// `url` is the Engine.IO URL with `transport=polling` (see `ServerUrl::engine_url`).
    pub(crate) fn new(
        url: &str,
        headers: Vec<(String, String)>,
        tls: Option<Arc<rustls::ClientConfig>>,
        max_body: usize,
    ) -> Result<Self, String> {
        let url = WsUrl::parse(url).map_err(|e| e.to_string())?;
        Ok(Self {
            url,
            headers,
            tls,
            max_body,
        })
    }

    /// The request target for session `sid` (none for the handshake).
    fn path(&self, sid: Option<&str>) -> String {
        match sid {
            Some(sid) => format!("{}&sid={sid}", self.url.target),
            None => self.url.target.clone(),
        }
    }
}

/// One keep-alive HTTP/1.1 connection to the server.
pub(crate) struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
}

impl HttpConn {
    async fn open(target: &Target) -> Result<Self, String> {
        let stream = connect_stream(&target.url, target.tls.clone())
            .await
            .map_err(|e| format!("xhr poll error: {e}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("xhr poll error: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "polling connection ended");
            }
        });
        Ok(Self { sender })
    }
}

/// Sends one polling request on `conn` (opening it first when there is none or it closed) and
/// returns the response body. Any status but 200 is an error, with the server's message.
pub(crate) async fn request(
    conn: &mut Option<HttpConn>,
    target: &Target,
    sid: Option<&str>,
    body: Option<Bytes>,
) -> Result<Bytes, String> {
    if conn.as_ref().is_none_or(|c| c.sender.is_closed()) {
        *conn = Some(HttpConn::open(target).await?);
    }
    let Some(http) = conn.as_mut() else {
        return Err("xhr poll error: no connection".to_owned());
    };
    let method = if body.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(target.path(sid))
        .header(header::HOST, target.url.host_header());
    let own_encoding = target
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"));
    if !own_encoding {
        // As browsers do: Node's engine.io (and ours) then compress answers of 1 KB and more.
        builder = builder.header(header::ACCEPT_ENCODING, "gzip, deflate");
    }
    for (name, value) in &target.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
    }
    let request = builder
        .body(Full::new(body.unwrap_or_default()))
        .map_err(|e| format!("bad request: {e}"))?;
    let outcome = async {
        http.sender
            .ready()
            .await
            .map_err(|e| format!("xhr poll error: {e}"))?;
        let response = http
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("xhr poll error: {e}"))?;
        let status = response.status();
        let encoding = response.headers().get(header::CONTENT_ENCODING).cloned();
        let body = Limited::new(response.into_body(), target.max_body)
            .collect()
            .await
            .map_err(|e| format!("xhr poll error: {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!(
                "xhr poll error: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        decoded(encoding.as_ref(), body, target.max_body)
    }
    .await;
    if outcome.is_err() {
        // The connection's state is unknown: the next request opens another.
        *conn = None;
    }
    outcome
}

/// `body` with its `Content-Encoding` undone: gzip and deflate (zlib, as HTTP and Node's
/// engine.io mean it), inflated to at most `max_body` bytes: a small body that would inflate
/// past it is refused, not held.
fn decoded(
    encoding: Option<&http::HeaderValue>,
    body: Bytes,
    max_body: usize,
) -> Result<Bytes, String> {
    use std::io::Read as _;
    let Some(encoding) = encoding else {
        return Ok(body);
    };
    let Ok(value) = encoding.to_str() else {
        return Err("xhr poll error: unreadable content encoding".to_owned());
    };
    // One coding at most, besides `identity` (what engine.io servers send).
    let mut codings = value
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity");
    let name = codings.next().unwrap_or_default();
    if let Some(more) = codings.next() {
        return Err(format!(
            "xhr poll error: more than one content encoding ({name}, {more})"
        ));
    }
    let limit = u64::try_from(max_body)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut out = Vec::new();
    let inflated = match name.as_str() {
        "" => return Ok(body),
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        _ => return Err(format!("xhr poll error: unknown content encoding {name:?}")),
    };
    inflated.map_err(|e| format!("xhr poll error: bad {name} body: {e}"))?;
    if out.len() > max_body {
        return Err(format!(
            "xhr poll error: the {name} body inflates past {max_body} bytes"
        ));
    }
    Ok(Bytes::from(out))
}

/// The packets of a v4 payload, each in its text form (binary as `b<base64>`), for
/// `ClientCore::handle_text`.
pub(crate) fn segments(body: &[u8]) -> Result<std::str::Split<'_, char>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "parse error: payload is not UTF-8")?;
    Ok(text.split(SEPARATOR))
}

/// How many bytes `frame` takes in a payload.
pub(crate) fn encoded_len(frame: &Frame) -> usize {
    match frame {
        Frame::Text(text) => text.len(),
        Frame::Binary(bytes) => 1 + bytes.len().div_ceil(3) * 4,
    }
}

/// Joins frames into one v4 payload: text packets as they are, binary ones as `b<base64>`.
pub(crate) fn payload(frames: &[Frame]) -> Bytes {
    let mut out = String::with_capacity(frames.iter().map(|f| encoded_len(f) + 1).sum());
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match frame {
            Frame::Text(text) => out.push_str(text),
            Frame::Binary(bytes) => {
                out.push('b');
                BASE64.encode_string(bytes, &mut out);
            }
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_join_text_and_base64_binary_with_the_record_separator() {
        let frames = [
            Frame::Text(r#"451-["x",{"_placeholder":true,"num":0}]"#.to_owned()),
            Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            Frame::Text("3".to_owned()),
        ];
        let body = payload(&frames);
        assert_eq!(
            &body[..],
            "451-[\"x\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQIDBA==\u{1e}3".as_bytes()
        );
        assert_eq!(
            frames.iter().map(encoded_len).sum::<usize>() + 2,
            body.len()
        );
        let back: Vec<&str> = segments(&body).unwrap().collect();
        assert_eq!(back.len(), 3);
        assert_eq!(back[1], "bAQIDBA==");
        assert!(segments(b"\xff").is_err());
    }

    fn compressed(encoding: &str, data: &[u8]) -> Bytes {
        use std::io::Write as _;
        let level = flate2::Compression::default();
        let out = match encoding {
            "gzip" => {
                let mut z = flate2::write::GzEncoder::new(Vec::new(), level);
                z.write_all(data).unwrap();
                z.finish().unwrap()
            }
            _ => {
                let mut z = flate2::write::ZlibEncoder::new(Vec::new(), level);
                z.write_all(data).unwrap();
                z.finish().unwrap()
            }
        };
        Bytes::from(out)
    }

    #[test]
    fn compressed_answers_are_inflated_within_the_body_limit() {
        let text = "4hello \u{1e}".repeat(500);
        for encoding in ["gzip", "deflate", "GZip"] {
            let header = http::HeaderValue::from_str(encoding).unwrap();
            let body = compressed(&encoding.to_ascii_lowercase(), text.as_bytes());
            assert!(body.len() < text.len() / 4, "{encoding}");
            assert_eq!(
                decoded(Some(&header), body, 1 << 20).unwrap(),
                text.as_bytes(),
                "{encoding}"
            );
        }
        let plain = Bytes::from_static(b"40");
        assert_eq!(decoded(None, plain.clone(), 10).unwrap(), plain);
        let identity = http::HeaderValue::from_static("identity");
        assert_eq!(decoded(Some(&identity), plain.clone(), 10).unwrap(), plain);
        let listed = http::HeaderValue::from_static("gzip, identity");
        let body = compressed("gzip", b"42");
        assert_eq!(&decoded(Some(&listed), body, 10).unwrap()[..], b"42");
        let twice = http::HeaderValue::from_static("gzip, deflate");
        assert!(decoded(Some(&twice), plain.clone(), 10).is_err());

        // A bomb: 4 MiB of zeros in a few KiB, against a 256 KiB limit.
        let bomb = compressed("gzip", &vec![0u8; 4 << 20]);
        assert!(bomb.len() < 16 << 10);
        let gzip = http::HeaderValue::from_static("gzip");
        let err = decoded(Some(&gzip), bomb, 256 << 10).unwrap_err();
        assert!(err.contains("inflates past"), "{err}");
        let err = decoded(Some(&gzip), plain.clone(), 10).unwrap_err();
        assert!(err.contains("bad gzip body"), "{err}");
        let br = http::HeaderValue::from_static("br");
        assert!(decoded(Some(&br), plain, 10).is_err());
    }

    #[test]
    fn the_session_id_goes_after_the_query() {
        let target = Target::new(
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=polling&x=1",
            vec![],
            None,
            1024,
        )
        .unwrap();
        assert_eq!(
            target.path(Some("abc")),
            "/socket.io/?EIO=4&transport=polling&x=1&sid=abc"
        );
        assert_eq!(target.path(None), "/socket.io/?EIO=4&transport=polling&x=1");
    }
}
