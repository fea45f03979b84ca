//! Typed handlers: any async closure whose arguments can be taken from an incoming event
//! ([`FromEvent`]): the [`Socket`], the arguments decoded with serde ([`Data`], [`TryData`]),
//! the raw arguments ([`Args`]), the acknowledgement callback ([`Ack`]) and the
//! application's state ([`crate::State`]).
//!
//! ```
//! # use switchboard_socketio::{Ack, Data, Socket};
//! # fn register(socket: &Socket) {
//! #[derive(serde::Deserialize)]
//! struct Chat { room: String, text: String }
//!
//! socket.on("chat", |socket: Socket, Data(chat): Data<Chat>, ack: Ack| async move {
//!     socket.to(chat.room.as_str()).emit("chat", &chat.text);
//!     ack.send(&"delivered");
//! });
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::ack::Ack;
use crate::socket::Socket;
use crate::value::{from_value, Value};

/// A boxed future run by the connection's task.
pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a handler is called with.
#[derive(Debug)]
pub struct Incoming {
    /// The event's arguments (for a connection: the CONNECT payload, `auth`).
    pub args: Vec<Value>,
    /// The acknowledgement the client asked for, if any.
    pub ack: Option<Ack>,
}

/// A value a handler can take from the socket and the incoming event. `None` means this
/// handler does not apply (for example the arguments do not decode as `T`): it is not
/// called, and the event is logged at debug level.
pub trait FromEvent: Sized {
    /// Takes the value out of the event.
    fn from_event(socket: &Socket, incoming: &mut Incoming) -> Option<Self>;
}

impl FromEvent for Socket {
    fn from_event(socket: &Socket, _: &mut Incoming) -> Option<Self> {
        Some(socket.clone())
    }
}

/// The arguments decoded as `T`: a single argument is decoded as `T` itself, several as a
/// sequence (so `T` can be a tuple). The handler is not called when they do not decode.
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned> FromEvent for Data<T> {
    fn from_event(_: &Socket, incoming: &mut Incoming) -> Option<Self> {
        match decode_args(&mut incoming.args) {
            Ok(value) => Some(Data(value)),
            Err(e) => {
                tracing::debug!(error = %e, "event arguments do not decode");
                None
            }
        }
    }
}

/// The arguments decoded as `T`, or the reason they do not.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, crate::value::Error>);

impl<T: DeserializeOwned> FromEvent for TryData<T> {
    fn from_event(_: &Socket, incoming: &mut Incoming) -> Option<Self> {
        Some(TryData(decode_args(&mut incoming.args)))
    }
}

/// The raw arguments, in order (binary arguments as [`Value::Binary`]).
#[derive(Debug, Clone, Default)]
pub struct Args(pub Vec<Value>);

impl FromEvent for Args {
    fn from_event(_: &Socket, incoming: &mut Incoming) -> Option<Self> {
        Some(Args(std::mem::take(&mut incoming.args)))
    }
}

impl FromEvent for Ack {
    fn from_event(_: &Socket, incoming: &mut Incoming) -> Option<Self> {
        Some(incoming.ack.take().unwrap_or_else(Ack::none))
    }
}

pub(crate) fn decode_args<T: DeserializeOwned>(
    args: &mut Vec<Value>,
) -> Result<T, crate::value::Error> {
    let args = std::mem::take(args);
    if args.len() == 1 {
        let mut args = args;
        let first = args.pop().unwrap_or(Value::Null);
        from_value(first)
    } else {
        from_value(Value::Array(args))
    }
}

/// Something that handles an event (or a connection). Implemented for async closures of up
/// to four [`FromEvent`] arguments.
pub trait Handler<T>: Send + Sync + 'static {
    /// The future to run, or `None` when an argument could not be taken.
    fn call(&self, socket: Socket, incoming: Incoming) -> Option<BoxFuture>;
}

macro_rules! impl_handler {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> Handler<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($arg: FromEvent,)*
        {
            #[allow(non_snake_case, unused_variables, unused_mut)]
            fn call(&self, socket: Socket, mut incoming: Incoming) -> Option<BoxFuture> {
                $(let $arg = $arg::from_event(&socket, &mut incoming)?;)*
                Some(Box::pin((self)($($arg),*)))
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);

/// A handler with its argument types erased.
pub(crate) type ErasedHandler = Arc<dyn Fn(Socket, Incoming) -> Option<BoxFuture> + Send + Sync>;

pub(crate) fn erase<H: Handler<T>, T>(handler: H) -> ErasedHandler {
    Arc::new(move |socket, incoming| handler.call(socket, incoming))
}
