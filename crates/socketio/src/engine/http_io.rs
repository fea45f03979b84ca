//! HTTP answers as Node's engine.io gives them, and cross-origin headers.

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use switchboard_engineio::{
    EngineError, PollResponse, RequestError, POST_OK_BODY, POST_OK_CONTENT_TYPE,
};

use super::compression::{self, Encoding, HttpCompression};
use super::Body;

/// Cross-origin resource sharing for polling requests (browsers on another origin).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Origins allowed; empty allows any origin (reflected back, as Node's `cors: {origin: true}`).
    pub origins: Vec<String>,
    /// Whether cookies and credentials may be sent (`Access-Control-Allow-Credentials`).
    pub credentials: bool,
}

impl Cors {
    /// Adds the CORS headers to `response` when `origin` is allowed.
    pub(crate) fn apply(&self, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
        let Some(origin) = origin else {
            return;
        };
        let allowed = self.origins.is_empty()
            || origin
                .to_str()
                .is_ok_and(|o| self.origins.iter().any(|allowed| allowed == o));
        if !allowed {
            return;
        }
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        // Appended: a compressed polling answer varies on `Accept-Encoding` too.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

pub(crate) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = status;
    response
}

fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Node's `{"code":N,"message":"…"}` answer.
pub(crate) fn engine_error(error: EngineError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    with_body(status, "application/json", Bytes::from(error.json_body()))
}

/// Node's answer to a refused polling handshake: the error's status and JSON body with
/// `message` in place of the standard one (unless empty).
pub(crate) fn engine_error_with_message(error: EngineError, message: &str) -> Response<Body> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = error.json_body_with_message(message);
    with_body(status, "application/json", Bytes::from(body))
}

/// Node's answer to a refused WebSocket handshake (`abortUpgrade()` in `lib/server.ts`):
/// `400 Bad Request` whatever the error, the message as a `text/html` body, and the
/// connection closed.
pub(crate) fn upgrade_refused(error: EngineError, message: &str) -> Response<Body> {
    let message = if message.is_empty() {
        error.message()
    } else {
        message
    };
    let mut response = with_body(
        StatusCode::BAD_REQUEST,
        "text/html",
        Bytes::copy_from_slice(message.as_bytes()),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(crate) fn request_error(error: &RequestError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match error.content_type() {
        Some(content_type) => with_body(status, content_type, error.body()),
        None => empty(status),
    }
}

/// A polling payload, compressed with `encoding` when compression is on, some packet allows
/// it and the payload reaches the threshold (Node's `Polling.doWrite()`: text and binary
/// payloads alike).
pub(crate) fn poll_response(
    poll: PollResponse,
    compression: Option<&HttpCompression>,
    encoding: Option<Encoding>,
) -> Response<Body> {
    let content_type = poll.content_type();
    let Some(compression) = compression else {
        return with_body(StatusCode::OK, content_type, poll.body);
    };
    let compressed = match encoding {
        Some(encoding) if poll.compress && poll.body.len() >= compression.threshold => {
            match compression::compress(encoding, compression.level, &poll.body) {
                Ok(bytes) => Some((encoding, bytes)),
                Err(e) => {
                    // In-memory zlib does not fail in practice; the plain payload still works.
                    tracing::warn!(error = %e, "compressing a polling payload failed");
                    None
                }
            }
        }
        _ => None,
    };
    let mut response = match compressed {
        Some((encoding, bytes)) => {
            let mut response = with_body(StatusCode::OK, content_type, Bytes::from(bytes));
            response.headers_mut().insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.as_str()),
            );
            response
        }
        None => with_body(StatusCode::OK, content_type, poll.body),
    };
    // The answer depends on `Accept-Encoding` (Node omits this; caches need it).
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

pub(crate) fn post_ok() -> Response<Body> {
    with_body(
        StatusCode::OK,
        POST_OK_CONTENT_TYPE,
        Bytes::from_static(POST_OK_BODY.as_bytes()),
    )
}

/// Whether a POST carries a binary (v3 XHR2) payload.
pub(crate) fn is_binary<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"))
}
