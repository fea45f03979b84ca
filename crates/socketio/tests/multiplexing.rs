//! One connection in several namespaces at once (socket.io-client's multiplexing): each
//! packet reaches the socket of its own namespace, as namespaces are joined and left, and a
//! packet for a namespace not joined reaches none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{serve, Client};
use switchboard_socketio::{Ack, Args, Config, Socket, SocketIo, Value};

/// Every namespace acknowledges `echo` with its own name and the argument.
fn echo(socket: Socket) -> impl std::future::Future<Output = ()> {
    socket.on(
        "echo",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            let mut answer = vec![Value::String(socket.nsp().to_owned())];
            answer.extend(args);
            ack.send_args(answer);
        },
    );
    async {}
}

/// Sends `packet` and expects the next packet to be `answer`.
async fn exchange(client: &mut Client, packet: &str, answer: &str) {
    client.send(packet).await;
    assert_eq!(client.next_text().await, answer, "the answer to {packet}");
}

#[tokio::test]
async fn packets_reach_the_socket_of_their_namespace_as_namespaces_come_and_go() {
    let io = SocketIo::new(Config::default());
    io.ns("/", echo);
    io.ns("/chat", echo);
    let addr = serve(io).await;
    let mut client = Client::open(addr, "/").await;
    assert!(client.join(None).await.starts_with("40{"));
    client.send("40/chat,").await;
    assert!(client.next_text().await.starts_with("40/chat,{"));

    exchange(&mut client, r#"421["echo","a"]"#, r#"431["/","a"]"#).await;
    exchange(
        &mut client,
        r#"42/chat,2["echo","b"]"#,
        r#"43/chat,2["/chat","b"]"#,
    )
    .await;

    // Left: /chat's packets reach nobody (the answer that comes is the next one's).
    client.send("41/chat,").await;
    client.send(r#"42/chat,3["echo","c"]"#).await;
    exchange(&mut client, r#"424["echo","d"]"#, r#"434["/","d"]"#).await;

    // Joined again, then / left: only /chat answers.
    client.send("40/chat,").await;
    assert!(client.next_text().await.starts_with("40/chat,{"));
    exchange(&mut client, r#"425["echo","e"]"#, r#"435["/","e"]"#).await;
    client.send("41").await;
    client.send(r#"426["echo","f"]"#).await;
    exchange(
        &mut client,
        r#"42/chat,7["echo","g"]"#,
        r#"43/chat,7["/chat","g"]"#,
    )
    .await;

    // None left, then / joined again: the first answer is the CONNECT, / answers.
    client.send("41/chat,").await;
    client.send(r#"42/chat,8["echo","h"]"#).await;
    client.send("40").await;
    assert!(client.next_text().await.starts_with("40{"));
    exchange(&mut client, r#"429["echo","i"]"#, r#"439["/","i"]"#).await;
}
