//! HTTP answers as Node's engine.io gives them, and cross-origin headers.

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use switchboard_engineio::{
    EngineError, PollResponse, RequestError, POST_OK_BODY, POST_OK_CONTENT_TYPE,
};

use http_body_util::BodyExt;

use super::options::{Encoding, HttpCompression};
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
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
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

/// A refusal by the `allowRequest` hook: 403 with Node's body, the hook's message in it
/// (Node's default message when it gave none).
pub(crate) fn forbidden(message: &str) -> Response<Body> {
    let message = if message.is_empty() {
        "Forbidden"
    } else {
        message
    };
    let body = serde_json::json!({ "code": EngineError::Forbidden as u8, "message": message });
    with_body(
        StatusCode::FORBIDDEN,
        "application/json",
        Bytes::from(body.to_string()),
    )
}

/// Compresses a successful polling answer of at least the threshold's size.
pub(crate) async fn compress(
    response: Response<Body>,
    encoding: Encoding,
    config: HttpCompression,
) -> Response<Body> {
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    if bytes.len() < config.threshold {
        return Response::from_parts(parts, Body::new(bytes));
    }
    match encoding.compress(&bytes, config.level) {
        Some(compressed) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, encoding.header());
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::new(compressed))
        }
        None => Response::from_parts(parts, Body::new(bytes)),
    }
}

pub(crate) fn request_error(error: &RequestError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match error.content_type() {
        Some(content_type) => with_body(status, content_type, error.body()),
        None => empty(status),
    }
}

pub(crate) fn poll_response(poll: PollResponse) -> Response<Body> {
    let content_type = poll.content_type();
    with_body(StatusCode::OK, content_type, poll.body)
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
