//! The Socket.IO benchmark application, shared by `examples/bench_server.rs` and the
//! idle-memory test (`tests/idle_footprint.rs`), so that the test measures what the benchmark
//! runs: namespace `/` acknowledges `echo` with its arguments and relays `broadcast` to every
//! other socket.

use switchboard_socketio::{Ack, Args, Socket, SocketIo};

/// Registers the benchmark's namespace `/` on `io`.
pub(crate) fn register(io: &SocketIo) {
    io.ns("/", |socket: Socket| async move {
        socket.on("echo", |Args(args): Args, ack: Ack| async move {
            ack.send_args(args);
        });
        socket.on("broadcast", |socket: Socket, Args(args): Args| async move {
            let _ = socket.broadcast().emit_args("broadcast", args);
        });
    });
}
