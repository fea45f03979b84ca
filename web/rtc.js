// Switchboard's WebRTC SDK: call rooms over the signaling namespace /rtc (docs/rtc.md), a full
// mesh of peer connections using the perfect-negotiation pattern, media tracks, data channels
// and file transfer. No build step, no dependencies.
//
//   import { joinRoom } from '/sdk/rtc.js';
//   const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
//   const room = await joinRoom({ room: 'standup', name: 'ada', media });
//   room.addEventListener('track', ({ detail: { peer, streams } }) => show(peer.id, streams[0]));
//   room.addEventListener('message', ({ detail: { peer, data } }) => console.log(peer.name, data));
//   room.send('hello everyone');
//   await room.sendFile(peerId, file);   // progress and arrival: 'file-progress', 'file'

import { Socket } from './switchboard.js';

const CHUNK = 16 * 1024;
/// A file channel's send buffer is refilled below LOW and waited on above HIGH.
const LOW = 1 << 20;
const HIGH = 4 << 20;

/// Set `globalThis.SWITCHBOARD_RTC_DEBUG = true` to log signaling to the console.
function debug(...args) {
  if (globalThis.SWITCHBOARD_RTC_DEBUG) console.debug('rtc:', ...args);
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/// Joins a call room; resolves once the server has answered. `media` (a MediaStream) is sent to
/// every peer; `url` defaults to the page's own server.
export async function joinRoom({ room, name = '', meta = null, url, media = null, iceTransportPolicy = 'all', auth } = {}) {
  const socket = new Socket(url, { namespace: '/rtc', auth, reconnectionDelay: 200, reconnectionDelayMax: 2000 });
  const r = new Room(socket, { room, name, meta, media, iceTransportPolicy });
  await r.join();
  return r;
}

/// One remote participant and the peer connection to it.
export class Peer {
  /// `initiator`: this side makes the first offer (a newcomer does, to everyone already in the
  /// room); the other side answers it before negotiating anything itself. Two first offers
  /// crossing would be resolved by perfect negotiation too, but Chromium then sometimes
  /// loses the polite side's candidates; later renegotiations use perfect negotiation.
  constructor(room, { id, name, meta }, initiator = true) {
    this.room = room;
    this.id = id;
    this.name = name;
    this.meta = meta;
    // Perfect negotiation: the side with the greater id yields on glare.
    this.polite = room.id > id;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.away = false;
    this.awaitingOffer = !initiator;
    this.connect();
    if (this.awaitingOffer) {
      // Should the newcomer's offer never come, negotiate anyway.
      this.offerTimer = setTimeout(() => {
        if (!this.awaitingOffer) return;
        this.awaitingOffer = false;
        this.negotiate();
      }, 3000);
    }
  }

  async negotiate() {
    const pc = this.pc;
    if (this.awaitingOffer || pc.signalingState === 'closed') return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      this.room.signal(this.id, { description: pc.localDescription });
    } catch (error) {
      this.room.fire('error', { peer: this, error });
    } finally {
      this.makingOffer = false;
    }
  }

  connect() {
    const pc = new RTCPeerConnection({ iceServers: this.room.iceServers, iceTransportPolicy: this.room.iceTransportPolicy });
    this.pc = pc;
    for (const track of this.room.media?.getTracks() ?? []) pc.addTrack(track, this.room.media);
    // A negotiated channel both ends create with the same id: no in-band handshake needed.
    this.channel = pc.createDataChannel('chat', { negotiated: true, id: 0 });
    this.channel.binaryType = 'arraybuffer';
    this.channel.onmessage = ({ data }) => this.room.fire('message', { peer: this, data });
    pc.onnegotiationneeded = () => this.negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.room.signal(this.id, { candidate });
    };
    pc.ontrack = ({ track, streams }) => this.room.fire('track', { peer: this, track, streams });
    pc.ondatachannel = ({ channel }) => {
      if (channel.label.startsWith('file:')) this.receiveFile(channel);
    };
    pc.onconnectionstatechange = () => {
      this.room.fire('connectionstatechange', { peer: this, state: pc.connectionState });
      if (pc.connectionState === 'failed') pc.restartIce();
    };
  }

  /// A description or candidate from this peer.
  async onSignal({ description, candidate }) {
    const pc = this.pc;
    debug('from', this.id, description?.type ?? 'candidate', pc.signalingState, this.makingOffer);
    try {
      if (description) {
        const collision = description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription(description);
        if (description.type === 'offer') {
          this.awaitingOffer = false;
          clearTimeout(this.offerTimer);
          await pc.setLocalDescription();
          this.room.signal(this.id, { description: pc.localDescription });
        }
      } else if (candidate) {
        try {
          await pc.addIceCandidate(candidate);
        } catch (error) {
          if (!this.ignoreOffer) throw error;
        }
      }
    } catch (error) {
      this.room.fire('error', { peer: this, error });
    }
  }

  /// Sends `file` (a Blob) over a channel of its own; resolves with its SHA-256 once the
  /// receiver has it all.
  async sendFile(file, { name = file.name ?? 'file', type = file.type ?? '' } = {}) {
    const transfer = crypto.randomUUID();
    const channel = this.pc.createDataChannel(`file:${transfer}`, { ordered: true });
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW;
    await new Promise((resolve, reject) => {
      channel.onopen = resolve;
      channel.onerror = ({ error }) => reject(error);
    });
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = hex(await crypto.subtle.digest('SHA-256', bytes));
    channel.send(JSON.stringify({ name, type, size: bytes.byteLength }));
    const done = new Promise((resolve, reject) => {
      channel.onmessage = ({ data }) => {
        const reply = JSON.parse(data);
        if (reply.ok) resolve(sha256);
        else reject(new Error(reply.error ?? 'transfer refused'));
      };
      channel.onclose = () => reject(new Error('file channel closed'));
    });
    for (let offset = 0; offset < bytes.byteLength; offset += CHUNK) {
      if (channel.bufferedAmount > HIGH) {
        await new Promise((resolve) => { channel.onbufferedamountlow = resolve; });
      }
      channel.send(bytes.subarray(offset, Math.min(offset + CHUNK, bytes.byteLength)));
      this.room.fire('file-progress', { peer: this, transfer, direction: 'send', name, sent: Math.min(offset + CHUNK, bytes.byteLength), size: bytes.byteLength });
    }
    channel.send(JSON.stringify({ end: true, sha256 }));
    await done;
    channel.close();
    return sha256;
  }

  receiveFile(channel) {
    channel.binaryType = 'arraybuffer';
    const transfer = channel.label.slice(5);
    let header = null;
    const parts = [];
    let received = 0;
    channel.onmessage = async ({ data }) => {
      if (typeof data === 'string') {
        const message = JSON.parse(data);
        if (!header) { header = message; return; }
        if (!message.end) return;
        const blob = new Blob(parts, { type: header.type });
        const sha256 = hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
        if (sha256 !== message.sha256 || received !== header.size) {
          channel.send(JSON.stringify({ ok: false, error: 'checksum mismatch' }));
          this.room.fire('error', { peer: this, error: new Error(`file ${header.name}: checksum mismatch`) });
          return;
        }
        channel.send(JSON.stringify({ ok: true }));
        this.room.fire('file', { peer: this, transfer, name: header.name, type: header.type, size: header.size, blob, sha256 });
        return;
      }
      parts.push(data);
      received += data.byteLength;
      this.room.fire('file-progress', { peer: this, transfer, direction: 'receive', name: header?.name, received, size: header?.size });
    };
  }

  close() {
    clearTimeout(this.offerTimer);
    this.pc.close();
  }
}

/// A joined call room. Events (`addEventListener`, detail in `event.detail`): `peer` (a peer is
/// known: at join or when it joins), `peer-left`, `peer-away`, `peer-back`, `track`, `message`,
/// `connectionstatechange`, `file-progress`, `file`, `reconnected`, `error`.
export class Room extends EventTarget {
  constructor(socket, { room, name, meta, media, iceTransportPolicy }) {
    super();
    this.socket = socket;
    this.name = room;
    this.self = { name, meta };
    this.media = media;
    this.iceTransportPolicy = iceTransportPolicy;
    this.peers = new Map();
    this.iceServers = [];
    this.outbox = [];
    this.joined = false;
    socket.on('peer-joined', (info) => this.addPeer(info, false));
    socket.on('peer-left', ({ id, reason }) => this.removePeer(id, reason));
    socket.on('peer-away', ({ id }) => this.mark(id, true));
    socket.on('peer-back', ({ id }) => this.mark(id, false));
    socket.on('signal', ({ from, data }) => {
      const peer = this.peers.get(from);
      if (!peer) debug('signal from unknown peer', from);
      peer?.onSignal(data);
    });
    socket.on('rtc-error', (error) => this.fire('error', { error }));
    socket.on('disconnect', () => { this.joined = false; });
    socket.on('connect', () => { if (this.resume) this.rejoin(); });
  }

  fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async join() {
    const answer = await this.socket.emitWithAck('join', { room: this.name, ...this.self });
    if (!answer?.ok) throw Object.assign(new Error(answer?.error?.message ?? 'join failed'), { code: answer?.error?.code });
    this.accept(answer);
  }

  /// Takes the place back after a dropped signaling connection; peer connections carry on.
  async rejoin() {
    try {
      const answer = await this.socket.emitWithAck('join', { room: this.name, ...this.self, resume: this.resume });
      if (!answer?.ok) throw new Error(answer?.error?.message ?? 'rejoin failed');
      if (!answer.resumed) {
        // The place was lost: start over with a new id.
        for (const peer of this.peers.values()) peer.close();
        this.peers.clear();
      }
      this.accept(answer);
      this.fire('reconnected', { resumed: answer.resumed });
    } catch (error) {
      this.fire('error', { error });
    }
  }

  accept({ id, resume, peers, iceServers }) {
    this.id = id;
    this.resume = resume;
    this.iceServers = iceServers;
    this.joined = true;
    for (const info of peers) if (!this.peers.has(info.id)) this.addPeer(info);
    for (const id of [...this.peers.keys()]) {
      if (!peers.some((p) => p.id === id)) this.removePeer(id, 'left');
    }
    for (const [to, data] of this.outbox.splice(0)) this.signal(to, data);
  }

  addPeer(info, initiator = true) {
    const peer = new Peer(this, info, initiator);
    this.peers.set(info.id, peer);
    this.fire('peer', { peer });
  }

  removePeer(id, reason) {
    const peer = this.peers.get(id);
    if (!peer) return;
    peer.close();
    this.peers.delete(id);
    this.fire('peer-left', { peer, id, reason });
  }

  mark(id, away) {
    const peer = this.peers.get(id);
    if (!peer) return;
    peer.away = away;
    this.fire(away ? 'peer-away' : 'peer-back', { peer });
  }

  /// Sends signaling data to one peer; held while the signaling connection is down.
  signal(to, data) {
    debug('to', to, data.description?.type ?? 'candidate', this.joined);
    if (!this.joined) {
      this.outbox.push([to, data]);
      return;
    }
    this.socket.emit('signal', { to, data: JSON.parse(JSON.stringify(data)) }, (answer) => {
      if (!answer?.ok) this.fire('error', { error: answer?.error });
    });
  }

  /// Sends `data` (string or binary) over the chat channel of one peer, or of all.
  send(data, to) {
    for (const peer of to ? [this.peers.get(to)] : this.peers.values()) {
      if (peer?.channel.readyState === 'open') peer.channel.send(data);
    }
  }

  /// Sends a file to one peer; resolves with its SHA-256 once the peer verified it.
  sendFile(to, file, options) {
    const peer = this.peers.get(to);
    if (!peer) return Promise.reject(new Error(`no peer ${to}`));
    return peer.sendFile(file, options);
  }

  /// Adds a track (a screen share, say) to every peer connection.
  addTrack(track, stream = this.media) {
    for (const peer of this.peers.values()) peer.pc.addTrack(track, stream);
  }

  /// Replaces an outgoing track everywhere (switching camera, or `null` to send nothing).
  async replaceTrack(old, track) {
    for (const peer of this.peers.values()) {
      for (const sender of peer.pc.getSenders()) {
        if (sender.track === old) await sender.replaceTrack(track);
      }
    }
  }

  /// Stops sending a track to every peer.
  removeTrack(track) {
    for (const peer of this.peers.values()) {
      for (const sender of peer.pc.getSenders()) {
        if (sender.track === track) peer.pc.removeTrack(sender);
      }
    }
  }

  /// Leaves the room and closes every peer connection.
  async leave() {
    this.resume = undefined;
    try {
      await this.socket.emitWithAck('leave', {});
    } finally {
      for (const peer of this.peers.values()) peer.close();
      this.peers.clear();
      this.socket.disconnect();
    }
  }
}
