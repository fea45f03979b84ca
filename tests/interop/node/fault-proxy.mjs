// A TCP proxy on loopback that makes the network between a client and a server bad on demand:
// it cuts writes into tiny pieces, freezes every flow as a partition would, stops reading one
// direction as a client that no longer reads would, and resets connections on a trigger. This
// machine's kernel has no netem, so the faults are made here, in user space, where a test can
// switch them at a known moment.
import net from 'node:net';

/// A small deterministic generator: the cuts follow from the seed and the order in which
/// chunks arrive, so a failing seed shows which pieces the run used, if not always the same.
function random(seed) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state / 0x100000000;
  };
}

/// Starts a proxy to `target` ({host, port}); resolves with its controls:
/// - `url`: the proxy's http:// address;
/// - `fragment(maxPiece)`: from now on every chunk, both ways, is written in pieces of 1 to
///   `maxPiece` bytes, one piece per event-loop turn (0 turns it off);
/// - `freeze()` / `thaw()`: a partition. While frozen nothing is read from either side of any
///   connection, so bytes wait in the kernel's buffers as they would on a dead route, and new
///   connections are accepted but not connected onward until the thaw;
/// - `onDownstream(fn)`: `fn(conn, chunk)` sees each chunk from the server before it is
///   forwarded; returning `'reset'` destroys both sides of that connection instead;
/// - `onUpstream(fn)`: the same for chunks from the client; returning `'drop'` loses the
///   chunk (the connection stays up);
/// - `connections`: the live ones, each `{kind, client, upstream, stopReading()}`, where `kind`
///   is `'websocket'`, `'polling'` or `undefined` (no request seen yet) and `stopReading()`
///   stops reading what the server sends on it (a client that no longer reads);
/// - `stopReadingAll()`: `stopReading()` on every connection, open now or later (a client
///   that opens a connection per request, as engine.io-client's polling does in Node);
/// - `stop()`: closes the listener and every connection.
export async function startFaultProxy(target, { seed = Date.now() } = {}) {
  const next = random(seed);
  const connections = new Set();
  let maxPiece = 0;
  let frozen = false;
  let downstreamHook = null;
  let upstreamHook = null;
  let readingStopped = false;
  const parked = []; // connections accepted while frozen, connected onward at the thaw

  /// Writes `chunk` to `to`, cut into pieces while fragmentation is on, keeping the order of
  /// everything written on that side.
  function forward(conn, to, chunk) {
    if (maxPiece === 0 && conn.pending[to.side] === null) {
      to.write(chunk);
      return;
    }
    const previous = conn.pending[to.side] ?? Promise.resolve();
    const done = previous.then(async () => {
      let offset = 0;
      while (offset < chunk.length && !to.destroyed) {
        const size = maxPiece === 0 ? chunk.length : 1 + Math.floor(next() * maxPiece);
        to.write(chunk.subarray(offset, offset + size));
        offset += size;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    conn.pending[to.side] = done;
    done.then(() => { if (conn.pending[to.side] === done) conn.pending[to.side] = null; });
  }

  /// Runs `then` once every piece already queued for `to` is written.
  function flushThen(conn, to, then) {
    (conn.pending[to.side] ?? Promise.resolve()).then(then);
  }

  /// Passes an end or a close of `from` on to the other side (`other`, or a function giving it,
  /// as it may not exist yet) after what is queued for it, and a reset at once.
  function relayEnds(conn, from, other) {
    const peer = () => (typeof other === 'function' ? other() : other);
    from.on('end', () => {
      const to = peer();
      if (to) flushThen(conn, to, () => to.end());
    });
    from.on('close', () => {
      const to = peer();
      if (to) flushThen(conn, to, () => to.destroy());
      connections.delete(conn);
    });
    from.on('error', () => {
      peer()?.destroy();
      connections.delete(conn);
    });
  }

  function connectOnward(conn) {
    const upstream = net.connect({ ...target, allowHalfOpen: true });
    upstream.side = 'upstream';
    upstream.setNoDelay(true);
    conn.upstream = upstream;
    upstream.on('data', (chunk) => {
      if (downstreamHook?.(conn, chunk) === 'reset') {
        conn.client.resetAndDestroy();
        upstream.resetAndDestroy();
        return;
      }
      forward(conn, conn.client, chunk);
    });
    for (const chunk of conn.early) forward(conn, upstream, chunk);
    conn.early = [];
    if (conn.clientEnded) flushThen(conn, upstream, () => upstream.end());
    relayEnds(conn, upstream, conn.client);
    if (frozen) upstream.pause();
    if (conn.downstreamStopped) upstream.pause();
  }

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    client.side = 'client';
    client.setNoDelay(true);
    const conn = {
      kind: undefined,
      client,
      upstream: null,
      early: [], // what the client sent before the onward connection existed
      pending: { client: null, upstream: null },
      downstreamStopped: readingStopped,
      stopReading() { conn.downstreamStopped = true; conn.upstream?.pause(); },
    };
    connections.add(conn);
    client.on('data', (chunk) => {
      if (conn.kind === undefined) {
        const head = chunk.toString('latin1', 0, Math.min(chunk.length, 512));
        conn.kind = /transport=websocket/.test(head) ? 'websocket' : 'polling';
      }
      if (upstreamHook?.(conn, chunk) === 'drop') return;
      if (conn.upstream) forward(conn, conn.upstream, chunk);
      else conn.early.push(chunk);
    });
    client.on('end', () => { conn.clientEnded = true; });
    relayEnds(conn, client, () => conn.upstream);
    if (frozen) {
      client.pause();
      parked.push(conn);
    } else {
      connectOnward(conn);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seed,
    connections,
    fragment(size) { maxPiece = size; },
    freeze() {
      frozen = true;
      for (const conn of connections) {
        conn.client.pause();
        conn.upstream?.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const conn of connections) {
        conn.client.resume();
        if (!conn.downstreamStopped) conn.upstream?.resume();
      }
      for (const conn of parked.splice(0)) {
        if (!conn.client.destroyed) connectOnward(conn);
      }
    },
    onDownstream(hook) { downstreamHook = hook; },
    onUpstream(hook) { upstreamHook = hook; },
    stopReadingAll() {
      readingStopped = true;
      for (const conn of connections) conn.stopReading();
    },
    async stop() {
      for (const conn of connections) { conn.client.destroy(); conn.upstream?.destroy(); }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
