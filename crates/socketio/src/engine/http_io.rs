//! HTTP answers as Node's engine.io gives them, and cross-origin headers.

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use switchboard_engineio::{
    EngineError, PollResponse, RequestError, POST_OK_BODY, POST_OK_CONTENT_TYPE,
};

use super::compression::{self, Encoding, HttpCompression};
use super::Body;

/// Cross-origin resource sharing for polling requests (browsers on another origin): Node's
/// `cors` option, with the defaults of the `cors` package Node hands it to.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Origins allowed; empty allows any origin (reflected back, as Node's `cors: {origin: true}`).
    pub origins: Vec<String>,
    /// Whether cookies and credentials may be sent (`Access-Control-Allow-Credentials`).
    pub credentials: bool,
    /// Methods a preflight allows; empty: `GET,HEAD,PUT,PATCH,POST,DELETE`, the `cors`
    /// package's default (so that a wrong method reaches the server and gets its error).
    pub methods: Vec<String>,
    /// Request headers a preflight allows; empty: the ones it asks for (its
    /// `Access-Control-Request-Headers`, reflected, as the `cors` package does), so that a
    /// browser client's `extraHeaders` pass.
    pub allowed_headers: Vec<String>,
    /// How long a browser may keep a preflight's answer (`Access-Control-Max-Age`); unset by
    /// default, as in Node.
    pub max_age: Option<std::time::Duration>,
}

/// The methods a preflight allows when [`Cors::methods`] is empty.
const DEFAULT_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE";

/// What the answer to a request needs to know of it for CORS.
#[derive(Debug, Default)]
pub(crate) struct CorsRequest {
    origin: Option<HeaderValue>,
    /// A preflight (`OPTIONS`).
    preflight: bool,
    /// The headers a preflight asks for (`Access-Control-Request-Headers`).
    requested_headers: Option<HeaderValue>,
}

impl CorsRequest {
    pub(crate) fn of<B>(req: &Request<B>) -> Self {
        let headers = req.headers();
        let preflight = req.method() == http::Method::OPTIONS;
        Self {
            origin: headers.get(header::ORIGIN).cloned(),
            preflight,
            requested_headers: if preflight {
                headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned()
            } else {
                None
            },
        }
    }
}

impl Cors {
    /// Adds the CORS headers to `response` when the request's origin is allowed: the origin
    /// and credentials always, and for a preflight the methods, headers and max age.
    pub(crate) fn apply(&self, request: &CorsRequest, response: &mut Response<Body>) {
        let Some(origin) = &request.origin else {
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
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if !request.preflight {
            return;
        }
        let methods = if self.methods.is_empty() {
            Some(HeaderValue::from_static(DEFAULT_METHODS))
        } else {
            list_value(&self.methods)
        };
        if let Some(methods) = methods {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        let allowed_headers = if self.allowed_headers.is_empty() {
            headers.append(
                header::VARY,
                HeaderValue::from_static("Access-Control-Request-Headers"),
            );
            request.requested_headers.clone()
        } else {
            list_value(&self.allowed_headers)
        };
        if let Some(allowed_headers) = allowed_headers {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed_headers);
        }
        if let Some(max_age) = self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.as_secs().into());
        }
    }
}

/// `a,b,c` as a header value; none (and a log line) when the configuration holds characters a
/// header cannot carry.
fn list_value(items: &[String]) -> Option<HeaderValue> {
    let joined = items.join(",");
    HeaderValue::from_str(&joined)
        .inspect_err(
            |_| tracing::warn!(value = %joined, "CORS setting is not a valid header value"),
        )
        .ok()
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

/// The answer to a handshake once the server stops ([`Engine::shutdown`](super::Engine)):
/// 503 and the connection closed, so that the client tries again later (behind a load
/// balancer, on another server) instead of getting a session that closes at once.
pub(crate) fn shutting_down() -> Response<Body> {
    let mut response = with_body(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain",
        Bytes::from_static(b"server shutting down"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(cors: &Cors, method: &str, headers: &[(&str, &str)]) -> http::HeaderMap {
        let mut req = Request::builder().method(method).uri("/socket.io/");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(()).unwrap();
        let mut response = empty(StatusCode::NO_CONTENT);
        cors.apply(&CorsRequest::of(&req), &mut response);
        response.headers().clone()
    }

    fn all(headers: &http::HeaderMap, name: header::HeaderName) -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn a_preflight_gets_nodes_default_methods_and_the_headers_it_asks_for() {
        let asked = [
            ("origin", "http://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization,x-token"),
        ];
        let headers = answer(&Cors::default(), "OPTIONS", &asked);
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://app.example"
        );
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_METHODS],
            "GET,HEAD,PUT,PATCH,POST,DELETE"
        );
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization,x-token"
        );
        assert_eq!(
            all(&headers, header::VARY),
            ["Origin", "Access-Control-Request-Headers"]
        );
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        assert!(!headers.contains_key(header::ACCESS_CONTROL_MAX_AGE));
    }

    #[test]
    fn configured_methods_headers_max_age_and_credentials_are_sent() {
        let cors = Cors {
            origins: vec!["http://app.example".into()],
            credentials: true,
            methods: vec!["GET".into(), "POST".into()],
            allowed_headers: vec!["x-token".into()],
            max_age: Some(Duration::from_secs(600)),
        };
        let asked = [
            ("origin", "http://app.example"),
            ("access-control-request-headers", "authorization"),
        ];
        let headers = answer(&cors, "OPTIONS", &asked);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], "x-token");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(all(&headers, header::VARY), ["Origin"]);
    }

    #[test]
    fn plain_requests_get_the_origin_only_and_other_origins_nothing() {
        let cors = Cors {
            origins: vec!["http://app.example".into()],
            ..Cors::default()
        };
        let headers = answer(&cors, "GET", &[("origin", "http://app.example")]);
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://app.example"
        );
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_HEADERS));
        let other = [
            ("origin", "http://evil.example"),
            ("access-control-request-headers", "x-token"),
        ];
        assert!(answer(&cors, "OPTIONS", &other).is_empty());
        assert!(answer(&cors, "GET", &[]).is_empty(), "no origin, no CORS");
    }

    #[test]
    fn a_setting_no_header_can_carry_is_left_out() {
        let cors = Cors {
            allowed_headers: vec!["bad\nname".into()],
            ..Cors::default()
        };
        let asked = [("origin", "http://a.example")];
        let headers = answer(&cors, "OPTIONS", &asked);
        assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_HEADERS));
        assert!(headers.contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
    }
}
