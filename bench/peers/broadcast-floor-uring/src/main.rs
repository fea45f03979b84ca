//! Benchmark only: `bench/peers/broadcast-floor` on io_uring instead of epoll, to measure how
//! much a different I/O path could win for `switchboard bench --mode sio-broadcast`.
//!
//! Like the epoll floor it answers the Engine.IO open and the Socket.IO CONNECT with fixed
//! strings, never pings, parses nothing past the WebSocket frame, and relays every `42…` text
//! frame it receives, framed once, to every other connection. Unlike it, no task is woken per
//! receiver and no system call is made per write: after each batch of completions, one
//! `io_uring_enter` submits a send for every receiver with bytes waiting, on registered files,
//! with the ring set up for a single issuer and deferred task work (the cheapest io_uring
//! offers). Handshakes are made by a blocking thread, which is idle once the sockets have joined.
//!
//!     cargo run --release -p bench-broadcast-floor-uring -- [ADDR]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;

use io_uring::{opcode, squeue, types, IoUring};

/// The Engine.IO open packet: pings an hour apart, so none come during a run.
const OPEN: &str = concat!(
    r#"0{"sid":"floor","upgrades":[],"pingInterval":3600000,"#,
    r#""pingTimeout":3600000,"maxPayload":1000000}"#
);
const CONNECT: &str = r#"40{"sid":"floor"}"#;

/// Most connections the ring's file table holds (within this machine's open-file limit).
const MAX_CONNECTIONS: u32 = 16_384;
const RECV_BUFFER: usize = 16 * 1024;
/// Sends submitted per turn of the loop; the sender's socket is read between turns.
const SENDS_PER_ROUND: usize = 512;

/// What a completion is for, in the low bits of its `user_data`; the connection's slot above.
const RECV: u64 = 0;
const SEND: u64 = 1;
const NEW_CONNECTIONS: u64 = 2;

/// A server-to-client (unmasked) text frame.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x81);
    match payload.len() {
        n @ 0..=125 => frame.push(n as u8),
        n @ 126..=65_535 => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// The first complete client (masked) frame in `buf`: its opcode, unmasked payload and length
/// on the wire; `None` while incomplete.
fn client_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let mask: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    at += 4;
    let mut payload = buf.get(at..at + len)?.to_vec();
    switchboard_ws::apply_mask(&mut payload, mask, 0);
    Some((b0 & 0x0f, payload, at + len))
}

/// Reads from a blocking socket until `done` says what it holds is complete.
fn read_until(
    tcp: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while !done(buf) {
        let n = tcp.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// The WebSocket and Socket.IO handshakes, on a blocking socket. The client sends nothing
/// between its request and the open packet, or between `40` and the CONNECT, so nothing read
/// here belongs to the relay.
fn handshake(mut tcp: TcpStream) -> io::Result<OwnedFd> {
    tcp.set_nodelay(true)?;
    let mut request = Vec::new();
    read_until(&mut tcp, &mut request, |b| {
        b.windows(4).any(|w| w == b"\r\n\r\n")
    })?;
    let text = String::from_utf8_lossy(&request);
    let key = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        switchboard_ws::handshake::accept_key(key.as_bytes())
    )
    .into_bytes();
    answer.extend_from_slice(&text_frame(OPEN.as_bytes()));
    tcp.write_all(&answer)?;
    let mut connect = Vec::new();
    read_until(&mut tcp, &mut connect, |b| client_frame(b).is_some())?;
    tcp.write_all(&text_frame(CONNECT.as_bytes()))?;
    Ok(OwnedFd::from(tcp))
}

/// One joined connection, as the ring sees it.
struct Conn {
    /// Kept open for the ring's file table, which holds only a copy of the number.
    _fd: OwnedFd,
    received: Vec<u8>,
    recv_buf: Box<[u8]>,
    /// Frames waiting for the send after the one in flight.
    waiting: Vec<u8>,
    /// The bytes of the send in flight, and how many of them are written.
    sending: Vec<u8>,
    sent: usize,
    in_flight: bool,
    /// Listed in `dirty` already.
    dirty: bool,
    open: bool,
}

struct Relay {
    ring: IoUring,
    conns: Vec<Conn>,
    dirty: std::collections::VecDeque<usize>,
    new_conns: mpsc::Receiver<OwnedFd>,
    eventfd: OwnedFd,
    eventfd_buf: Box<[u8; 8]>,
    relayed: u64,
    direct: bool,
    retry: Vec<usize>,
}

impl Relay {
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: every buffer an entry points at (a connection's boxed receive buffer, its
        // `sending` vector, the eventfd counter) stays put until the entry's completion: a
        // connection is never removed from `conns`, and `sending` is not touched while in flight.
        while unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.ring.submit()?;
        }
        Ok(())
    }

    fn arm_recv(&mut self, i: usize) -> io::Result<()> {
        let buf = &mut self.conns[i].recv_buf;
        let entry = opcode::Recv::new(types::Fixed(i as u32), buf.as_mut_ptr(), buf.len() as u32)
            .build()
            .user_data((i as u64) << 2 | RECV);
        self.push(entry)
    }

    fn arm_send(&mut self, i: usize) -> io::Result<()> {
        if self.direct {
            return self.send_now(i);
        }
        let conn = &mut self.conns[i];
        let rest = &conn.sending[conn.sent..];
        let entry = opcode::Send::new(types::Fixed(i as u32), rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data((i as u64) << 2 | SEND);
        conn.in_flight = true;
        self.push(entry)
    }

    /// `FLOOR_IO=send`: the same loop, with a send(2) per receiver in place of ring entries,
    /// to tell what io_uring wins from what dropping the task per connection wins.
    fn send_now(&mut self, i: usize) -> io::Result<()> {
        let conn = &mut self.conns[i];
        let rest = &conn.sending[conn.sent..];
        // SAFETY: `rest` is a live slice and the descriptor is open for as long as `conn`.
        let n = unsafe {
            libc::send(
                conn._fd.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock {
                conn.open = false;
                return Ok(());
            }
        } else {
            conn.sent += n as usize;
        }
        if conn.sent < conn.sending.len() {
            // Finish it in a later round; in the meantime frames gather in `waiting`.
            conn.in_flight = true;
            self.retry.push(i);
        }
        Ok(())
    }

    fn arm_new_conns(&mut self) -> io::Result<()> {
        let entry = opcode::Read::new(
            types::Fd(self.eventfd.as_raw_fd()),
            self.eventfd_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(NEW_CONNECTIONS);
        self.push(entry)
    }

    fn take_new_conns(&mut self) -> io::Result<()> {
        while let Ok(fd) = self.new_conns.try_recv() {
            let i = self.conns.len();
            if i as u32 >= MAX_CONNECTIONS {
                continue;
            }
            self.ring
                .submitter()
                .register_files_update(i as u32, &[fd.as_raw_fd()])?;
            self.conns.push(Conn {
                _fd: fd,
                received: Vec::new(),
                recv_buf: vec![0; RECV_BUFFER].into_boxed_slice(),
                waiting: Vec::new(),
                sending: Vec::new(),
                sent: 0,
                in_flight: false,
                dirty: false,
                open: true,
            });
            self.arm_recv(i)?;
        }
        self.arm_new_conns()
    }

    /// Relays every complete `42…` frame connection `from` has sent to all the others.
    fn on_received(&mut self, from: usize, n: usize) {
        let conn = &mut self.conns[from];
        conn.received.extend_from_slice(&conn.recv_buf[..n]);
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some((op, payload, len)) = client_frame(&conn.received[at..]) {
            at += len;
            match op {
                0x1 if payload.starts_with(b"42") => frames.push(text_frame(&payload)),
                0x8 => conn.open = false,
                _ => {}
            }
        }
        conn.received.drain(..at);
        self.relayed += frames.len() as u64;
        for frame in &frames {
            for (i, to) in self.conns.iter_mut().enumerate() {
                if i == from || !to.open {
                    continue;
                }
                to.waiting.extend_from_slice(frame);
                if !to.dirty {
                    to.dirty = true;
                    self.dirty.push_back(i);
                }
            }
        }
    }

    /// Starts a send on the next `SENDS_PER_ROUND` connections with frames waiting, in the
    /// order they got them. The sender's socket is read between rounds, so a receiver's send
    /// carries every frame relayed since its last one.
    fn flush(&mut self) -> io::Result<()> {
        for i in std::mem::take(&mut self.retry) {
            self.conns[i].in_flight = false;
            self.send_now(i)?;
            if !self.conns[i].in_flight && !self.conns[i].waiting.is_empty() && !self.conns[i].dirty
            {
                self.conns[i].dirty = true;
                self.dirty.push_back(i);
            }
        }
        for _ in 0..SENDS_PER_ROUND {
            let Some(i) = self.dirty.pop_front() else {
                break;
            };
            let conn = &mut self.conns[i];
            conn.dirty = false;
            if conn.in_flight || !conn.open || conn.waiting.is_empty() {
                continue;
            }
            std::mem::swap(&mut conn.sending, &mut conn.waiting);
            conn.waiting.clear();
            conn.sent = 0;
            self.arm_send(i)?;
        }
        Ok(())
    }

    fn on_sent(&mut self, i: usize, result: i32) -> io::Result<()> {
        let conn = &mut self.conns[i];
        conn.in_flight = false;
        if result < 0 {
            conn.open = false;
            return Ok(());
        }
        conn.sent += result as usize;
        if conn.sent < conn.sending.len() {
            return self.arm_send(i);
        }
        if !conn.waiting.is_empty() && !conn.dirty {
            conn.dirty = true;
            self.dirty.push_back(i);
        }
        Ok(())
    }

    fn run(&mut self) -> io::Result<()> {
        self.arm_new_conns()?;
        // FLOOR_STATS=1: every 2 s on stderr, how many frames each send carried.
        let stats = std::env::var_os("FLOOR_STATS").is_some();
        let (mut sends, mut last) = (0u64, std::time::Instant::now());
        loop {
            if stats && last.elapsed().as_secs() >= 2 {
                let deliveries = self.relayed * self.conns.len().saturating_sub(1) as u64;
                eprintln!(
                    "{sends} sends, {deliveries} deliveries, {:.1} per send",
                    deliveries as f64 / sends.max(1) as f64
                );
                last = std::time::Instant::now();
            }
            let busy = self.direct && !(self.dirty.is_empty() && self.retry.is_empty());
            self.ring.submit_and_wait(if busy { 0 } else { 1 })?;
            let completions: Vec<(u64, i32)> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            for (data, result) in completions {
                let i = (data >> 2) as usize;
                match data & 3 {
                    NEW_CONNECTIONS => self.take_new_conns()?,
                    RECV if result > 0 => {
                        self.on_received(i, result as usize);
                        if self.conns[i].open {
                            self.arm_recv(i)?;
                        }
                    }
                    RECV => self.conns[i].open = false,
                    _ => {
                        sends += 1;
                        self.on_sent(i, result)?
                    }
                }
            }
            self.flush()?;
        }
    }
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd(2) takes no pointers; a non-negative result is a new descriptor we own.
    let fd: RawFd = unsafe { libc::eventfd(0, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    let direct = std::env::var("FLOOR_IO").as_deref() == Ok("send");
    let mut builder = IoUring::builder();
    if !direct {
        // Completions wait for the next io_uring_enter, which then reaps them in one go.
        builder
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_coop_taskrun();
    }
    let ring = builder.setup_cqsize(65_536).build(16_384)?;
    ring.submitter().register_files_sparse(MAX_CONNECTIONS)?;
    let eventfd = eventfd()?;
    let notify = eventfd.try_clone()?;
    let (joined, new_conns) = mpsc::channel();
    std::thread::spawn(move || {
        let mut notify = std::fs::File::from(notify);
        for tcp in listener.incoming().flatten() {
            if let Ok(fd) = handshake(tcp) {
                if joined.send(fd).is_err() || notify.write_all(&1u64.to_ne_bytes()).is_err() {
                    return;
                }
            }
        }
    });
    let mut relay = Relay {
        ring,
        conns: Vec::new(),
        dirty: Default::default(),
        new_conns,
        eventfd,
        eventfd_buf: Box::new([0; 8]),
        relayed: 0,
        direct,
        retry: Vec::new(),
    };
    relay.run()
}
