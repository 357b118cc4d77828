// Rendezvous and collectives over TCP (node:net, which Deno provides too). Rank 0 listens on MASTER_PORT, or the
// next free port when torchrun's own store holds it; every other rank connects to it (trying MASTER_PORT upwards
// until a webtune rank 0 answers), says who it is and what it trains, and learns where its ring neighbour listens.
// The ring then carries all-reduce (reduce-scatter + all-gather), reduce-scatter, all-gather and broadcast of
// Float32Arrays. Each chunk is summed once, by a fixed walk round the ring, and then copied to every rank, so all
// ranks hold identical bits. A rank that exits closes its sockets and a rank that hangs stops sending: either way
// the others fail within the timeout with a message naming it, and pass that message round so that every rank
// stops with the same line.
import { UserError } from '../../core/errors.ts';
import type { DistEnv } from './env.ts';

type NetSocket = import('node:net').Socket;
type NetServer = import('node:net').Server;

const MAGIC = 'webtune-dist-1';
/** how many ports above MASTER_PORT rank 0 may end up on (torchrun's store, a stale job) */
const PORT_TRIES = 16;
const KIND = { data: 1, json: 2, abort: 3, bye: 4 } as const;

/** One rank's connection to another: length-prefixed frames, each read with a deadline. */
class Peer {
  private chunks: Uint8Array[] = [];
  private have = 0;
  private frames: { kind: number; body: Uint8Array }[] = [];
  private waiting?: { ok: (f: { kind: number; body: Uint8Array }) => void; fail: (e: Error) => void; timer: ReturnType<typeof setTimeout> };
  private failure?: Error;
  closing = false;
  /** the peer said bye: it finished every collective, so its hang-up is no failure (unless this rank still waits on it) */
  private finished = false;

  /** group: told of a failure; a quiet one while the peer is not yet known to be a webtune rank */
  constructor(readonly sock: NetSocket, public name: string, public group: { fail(msg: string): void }) {
    sock.setNoDelay(true);
    sock.on('data', (d: Uint8Array) => this.onData(d));
    sock.on('error', () => {});  // 'close' follows and says who
    sock.on('close', () => {
      if (this.closing) return;
      if (!this.finished) this.group.fail(`${this.name} disconnected (it exited or was killed)`);
      else if (this.waiting) this.group.fail(`${this.name} finished while this rank still waited for it (ranks out of step)`);
    });
  }

  private onData(d: Uint8Array): void {
    this.chunks.push(d); this.have += d.length;
    while (this.have >= 5) {
      const head = this.take(5, true), len = new DataView(head.buffer, head.byteOffset).getUint32(0, true);
      if (this.have < 5 + len) break;
      this.take(5);
      const f = { kind: head[4], body: this.take(len) };
      if (f.kind === KIND.abort) { this.group.fail(new TextDecoder().decode(f.body)); continue; }
      if (f.kind === KIND.bye) { this.finished = true; continue; }
      if (this.waiting) { const w = this.waiting; this.waiting = undefined; clearTimeout(w.timer); w.ok(f); } else this.frames.push(f);
    }
  }

  /** n bytes off the front of the stream (peek: leave them there) */
  private take(n: number, peek = false): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0, i = 0;
    while (got < n) {
      const c = this.chunks[i], k = Math.min(c.length, n - got);
      out.set(c.subarray(0, k), got); got += k;
      if (!peek) { if (k === c.length) this.chunks.shift(); else this.chunks[0] = c.subarray(k); } else i++;
    }
    if (!peek) this.have -= n;
    return out;
  }

  async send(kind: number, body: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    const head = new Uint8Array(5);
    new DataView(head.buffer).setUint32(0, body.length, true);
    head[4] = kind;
    this.sock.write(head);
    // a socket closed under us (torchrun's store drops a stranger's bytes) never drains: wait for whichever comes first
    if (!this.sock.write(body)) await new Promise<void>((ok, fail) => {
      const done = () => {
        this.sock.off('drain', done); this.sock.off('close', done);
        if (this.sock.destroyed) fail(this.failure ?? new Error(`${this.name} disconnected`)); else ok();
      };
      this.sock.on('drain', done); this.sock.on('close', done);
      if (this.sock.destroyed) done();
    });
  }

  recv(timeoutMs: number): Promise<{ kind: number; body: Uint8Array }> {
    if (this.failure) return Promise.reject(this.failure);
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => this.group.fail(`${this.name} sent nothing for ${Math.round(timeoutMs / 1000)} s (hung, or stopped by a signal); ` +
        'WEBTUNE_DIST_TIMEOUT sets the limit in seconds'), timeoutMs);
      this.waiting = { ok, fail, timer };
    });
  }

  abort(e: Error): void {
    this.failure ??= e;
    if (this.waiting) { clearTimeout(this.waiting.timer); this.waiting.fail(e); this.waiting = undefined; }
  }

  /** A clean end: bye, then the queued frames flush before the socket closes. */
  finish(): void {
    if (this.closing) return;
    this.send(KIND.bye, new Uint8Array(0)).catch(() => {});
    this.closing = true;
    if (this.waiting) { clearTimeout(this.waiting.timer); this.waiting = undefined; }
    this.sock.end();
  }

  close(): void {
    this.closing = true;
    if (this.waiting) { clearTimeout(this.waiting.timer); this.waiting = undefined; }
    this.sock.destroy();
  }
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = <T>(f: { kind: number; body: Uint8Array }, from: string): T => {
  if (f.kind !== KIND.json) throw new Error(`${from} sent data where a control message was expected (ranks out of step)`);
  return JSON.parse(new TextDecoder().decode(f.body)) as T;
};

/** What every rank must agree on before training: flags (compared one by one), model and data fingerprints. */
export interface StartCheck { flags: Record<string, unknown>; model: string; data: string }

/** Names what differs between rank 0's check and another rank's, or null. */
export function checkMismatch(mine: StartCheck, theirs: StartCheck, rank: number): string | null {
  const keys = [...new Set([...Object.keys(mine.flags), ...Object.keys(theirs.flags)])].sort();
  const flags = keys.filter((k) => JSON.stringify(mine.flags[k]) !== JSON.stringify(theirs.flags[k]));
  if (flags.length) return `rank ${rank} was started with other flags than rank 0: ${flags.map((k) => `--${k} ${JSON.stringify(theirs.flags[k])} (rank 0: ${JSON.stringify(mine.flags[k])})`).join(', ')}`;
  if (mine.model !== theirs.model) return `rank ${rank} loaded another model than rank 0 (weights fingerprint ${theirs.model}, rank 0: ${mine.model})`;
  if (mine.data !== theirs.data) return `rank ${rank} read other training data than rank 0 (data fingerprint ${theirs.data}, rank 0: ${mine.data})`;
  return null;
}

/** [lo, hi) of chunk c when n elements are split into w near-equal chunks */
export const chunkRange = (n: number, w: number, c: number): [number, number] => [Math.floor((c * n) / w), Math.floor(((c + 1) * n) / w)];

export interface GroupOptions {
  /** a collective waits this long for a neighbour (ms) */
  timeoutMs: number;
  /** the rendezvous waits this long for every rank to load its model and data and connect (ms) */
  startTimeoutMs?: number;
  /** most floats sent in one frame (a ring step's chunk goes in pieces of this size) */
  frameFloats?: number;
}

export class Group {
  private failure?: Error;
  private readonly peers: Peer[] = [];
  private constructor(readonly rank: number, readonly world: number, private readonly next: Peer | null, private readonly prev: Peer | null,
    private readonly control: Peer[], private readonly server: NetServer | null, private readonly opts: GroupOptions) {
    this.peers = [...new Set([next, prev, ...control].filter((p): p is Peer => !!p))];
  }

  /** Every rank calls this with its own check; resolves once all ranks are connected and agree. */
  static async join(env: DistEnv, check: StartCheck, opts: GroupOptions): Promise<Group> {
    // by a variable name, so that browser bundles (which also hold sft) neither resolve nor load node:net
    const name = 'node:net';
    const net = await import(/* @vite-ignore */ name) as typeof import('node:net');
    const { rank, world } = env, startMs = opts.startTimeoutMs ?? Math.max(opts.timeoutMs, 600_000);
    const holder: { group?: Group; pending: Peer[]; error?: Error } = { pending: [] };
    const sink = { fail: (msg: string) => { holder.error ??= new UserError(msg); if (holder.group) holder.group.fail(msg); else for (const p of holder.pending) p.abort(holder.error); } };
    const quiet = { fail: () => {} };
    const adopt = (p: Peer) => { p.group = sink; holder.pending.push(p); return p; };
    const deadline = Date.now() + startMs;
    const left = () => Math.max(1, deadline - Date.now());

    // Each rank listens: rank 0 on the master port (or the next free one), the others on any port for their ring predecessor.
    const listen = (port: number, host?: string) => new Promise<NetServer>((ok, fail) => {
      const srv = net.createServer();
      srv.once('error', fail);
      srv.listen(port, host, () => { srv.off('error', fail); ok(srv); });
    });
    let server: NetServer;
    if (rank === 0) {
      let port = env.masterPort, s: NetServer | undefined;
      for (; !s && port < env.masterPort + PORT_TRIES; port++) s = await listen(port).catch((e) => { if (e.code === 'EADDRINUSE') return undefined; throw e; });
      if (!s) throw new UserError(`rank 0 found no free port in ${env.masterPort}–${env.masterPort + PORT_TRIES - 1} (MASTER_PORT)`);
      server = s;
    } else server = await listen(0);
    // Accepted connections announce themselves in their first frame: {hello: rank, ...}.
    const accepted: { rank: number; ring: boolean; peer: Peer; msg: Record<string, unknown> }[] = [];
    let onAccept = () => {};
    server.on('connection', (s: NetSocket) => {
      const p = new Peer(s, 'a connecting process', quiet);
      p.recv(left()).then(async (f) => {
        const msg = f.kind === KIND.json ? dec<Record<string, unknown>>(f, 'a connecting process') : {};
        if (msg.magic !== MAGIC) { p.close(); return; }
        p.name = `rank ${msg.rank}`;
        adopt(p);
        if (!msg.ring) await p.send(KIND.json, enc({ magic: MAGIC }));  // tells a probing rank it found rank 0
        accepted.push({ rank: Number(msg.rank), ring: !!msg.ring, peer: p, msg });
        onAccept();
      }, () => p.close());
    });
    const acceptWhere = (want: (a: typeof accepted[number]) => boolean, n: number, what: string) => new Promise<typeof accepted>((ok, fail) => {
      const timer = setTimeout(() => {
        const have = new Set(accepted.filter(want).map((a) => a.rank));
        const missing = Array.from({ length: world }, (_x, r) => r).filter((r) => r !== rank && !have.has(r));
        fail(new UserError(`rendezvous: ${what} did not arrive within ${Math.round(startMs / 1000)} s from rank ${missing.join(', rank ')} ` +
          `(check MASTER_ADDR=${env.masterAddr} MASTER_PORT=${env.masterPort} and WORLD_SIZE=${world})`));
      }, left());
      onAccept = () => {
        if (holder.error) { clearTimeout(timer); fail(holder.error); return; }
        const got = accepted.filter(want);
        if (got.length >= n) { clearTimeout(timer); ok(got); }
      };
      onAccept();
    });
    const connect = async (host: string, port: number, hello: Record<string, unknown>, name: string, probe: boolean): Promise<Peer> => {
      for (;;) {
        try {
          const s = await new Promise<NetSocket>((ok, fail) => {
            const c = net.connect({ host, port }, () => { c.off('error', fail); ok(c); });
            c.once('error', fail);
            c.setTimeout(2000, () => c.destroy(new Error('connect timeout')));
          });
          s.setTimeout(0);
          const p = new Peer(s, name, quiet);
          await p.send(KIND.json, enc({ magic: MAGIC, ...hello }));
          if (!probe) return adopt(p);
          // rank 0 answers a hello with its own magic; anything else (torchrun's TCPStore) is the wrong port
          const f = await Promise.race([p.recv(left()), new Promise<null>((r) => setTimeout(() => r(null), 1500))]);
          if (f && f.kind === KIND.json && dec<Record<string, unknown>>(f, name).magic === MAGIC) return adopt(p);
          p.close();
        } catch { /* not listening yet, or not ours: try the next port, then again */ }
        if (Date.now() > deadline) throw new UserError(`rendezvous: rank ${rank} could not reach rank 0 at ${env.masterAddr}:${env.masterPort}–${env.masterPort + PORT_TRIES - 1} within ${Math.round(startMs / 1000)} s`);
        if (probe) port = port + 1 >= env.masterPort + PORT_TRIES ? env.masterPort : port + 1;
        await new Promise((r) => setTimeout(r, probe && port === env.masterPort ? 250 : 20));
      }
    };
    const ringPort = (server.address() as { port: number }).port;

    let control: Peer[], next: Peer, prev: Peer;
    if (rank === 0) {
      const hellos = (await acceptWhere((a) => !a.ring, world - 1, 'the hello')).sort((x, y) => x.rank - y.rank);
      const dup = hellos.find((h, i) => h.rank !== i + 1 || Number(h.msg.world) !== world);
      const problem = dup ? `rank ${dup.rank} reports WORLD_SIZE=${dup.msg.world} and RANK=${dup.rank}; rank 0 expects ranks 1…${world - 1} of ${world}`
        : hellos.map((h) => checkMismatch(check, h.msg.check as StartCheck, h.rank)).find((m) => m) ?? null;
      if (problem) {
        for (const h of hellos) await h.peer.send(KIND.abort, new TextEncoder().encode(problem)).catch(() => {});
        for (const h of hellos) h.peer.close();
        server.close();
        throw new UserError(problem);
      }
      // where each rank listens: the address rank 0 saw it connect from, and the port it announced
      const addrs = [null, ...hellos.map((h) => ({ host: String(h.peer.sock.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''), port: Number(h.msg.ringPort) }))];
      for (const h of hellos) await h.peer.send(KIND.json, enc({ addrs }));
      control = hellos.map((h) => h.peer);
      next = await connect(addrs[1]!.host, addrs[1]!.port, { rank, ring: true }, 'rank 1', false);
      prev = (await acceptWhere((a) => a.ring, 1, 'the ring connection'))[0].peer;
    } else {
      const c = await connect(env.masterAddr, env.masterPort, { rank, world, ringPort, check }, 'rank 0', true);
      const { addrs } = dec<{ addrs: ({ host: string; port: number } | null)[] }>(await c.recv(left()), 'rank 0');
      control = [c];
      const n = (rank + 1) % world;
      next = n === 0 ? await connect(env.masterAddr, c.sock.remotePort!, { rank, ring: true }, 'rank 0', false)
        : await connect(addrs[n]!.host, addrs[n]!.port, { rank, ring: true }, `rank ${n}`, false);
      prev = (await acceptWhere((a) => a.ring, 1, 'the ring connection'))[0].peer;
    }
    if (holder.error) throw holder.error;
    const g = new Group(rank, world, next, prev, control, server, opts);
    holder.group = g;
    return g;
  }

  /** Stops every pending and later collective with msg, and passes msg to every rank this one is connected to. */
  fail(msg: string): void {
    if (this.failure) return;
    this.failure = new UserError(msg);
    for (const p of this.peers) { p.send(KIND.abort, new TextEncoder().encode(msg)).catch(() => {}); p.abort(this.failure); }
    setTimeout(() => this.shut((p) => p.close()), 200);  // let the abort frames go out
  }

  private check(): void { if (this.failure) throw this.failure; }

  private async ringStep(send: Float32Array, recvInto: (piece: Float32Array, at: number) => void, count: number): Promise<void> {
    const frame = this.opts.frameFloats ?? 1 << 20;
    const sending = (async () => {
      for (let at = 0; at < send.length; at += frame) {
        const piece = send.subarray(at, Math.min(send.length, at + frame));
        await this.next!.send(KIND.data, new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength));
      }
    })();
    for (let at = 0; at < count; at += frame) {
      const f = await this.prev!.recv(this.opts.timeoutMs);
      if (f.kind !== KIND.data) throw new Error(`${this.prev!.name} sent a control message inside a collective (ranks out of step)`);
      const piece = new Float32Array(f.body.slice().buffer);
      if (piece.length !== Math.min(frame, count - at)) throw new Error(`${this.prev!.name} sent ${piece.length} floats, expected ${Math.min(frame, count - at)} (ranks out of step: different model or flags?)`);
      recvInto(piece, at);
    }
    await sending;
  }

  /**
   * Sums x over the ranks into chunk `rank` of x (chunkRange(x.length, world, rank)); the other chunks hold partial
   * sums afterwards. Chunk c is summed walking the ring from rank c+1, the same order on every run.
   */
  async reduceScatter(x: Float32Array): Promise<[number, number]> {
    this.check();
    const { rank: r, world: w } = this, mod = (i: number) => ((i % w) + w) % w;
    for (let s = 0; s < w - 1; s++) {
      const [slo, shi] = chunkRange(x.length, w, mod(r - s - 1)), [rlo, rhi] = chunkRange(x.length, w, mod(r - s - 2));
      await this.ringStep(x.subarray(slo, shi), (p, at) => { for (let i = 0; i < p.length; i++) x[rlo + at + i] += p[i]; }, rhi - rlo);
    }
    return chunkRange(x.length, w, r);
  }

  /** Each rank's chunk `rank` of x, copied into every rank's x. */
  async allGather(x: Float32Array): Promise<void> {
    this.check();
    const { rank: r, world: w } = this, mod = (i: number) => ((i % w) + w) % w;
    for (let s = 0; s < w - 1; s++) {
      const [slo, shi] = chunkRange(x.length, w, mod(r - s)), [rlo, rhi] = chunkRange(x.length, w, mod(r - s - 1));
      await this.ringStep(x.subarray(slo, shi), (p, at) => x.set(p, rlo + at), rhi - rlo);
    }
  }

  /** x summed over the ranks, identical bits on every rank. */
  async allReduce(x: Float32Array): Promise<void> {
    if (this.world === 1) return;
    await this.reduceScatter(x);
    await this.allGather(x);
  }

  /** The sum over ranks of a few numbers (losses, token counts), in f64 and rank order: every rank gets the same. */
  async sum(values: number[]): Promise<number[]> {
    const w = this.world, n = values.length, all = new Float64Array(w * n);
    all.set(values, this.rank * n);
    const asF32 = new Float32Array(all.buffer);  // gather the f64 bits through the f32 ring
    const grid = new Float32Array(w * 2 * n);
    // chunkRange(w·2n, w, r) is exactly rank r's 2n words
    grid.set(asF32.subarray(this.rank * 2 * n, (this.rank + 1) * 2 * n), this.rank * 2 * n);
    await this.allGather(grid);
    const got = new Float64Array(grid.buffer);
    return values.map((_v, i) => { let s = 0; for (let q = 0; q < w; q++) s += got[q * n + i]; return s; });
  }

  /** root's x copied to every rank (along the ring). */
  async broadcast(x: Float32Array, root = 0): Promise<void> {
    this.check();
    const { rank: r, world: w } = this;
    if (w === 1) return;
    const dist = (r - root + w) % w;
    if (dist > 0) await this.ringStep(new Float32Array(0), (p, at) => x.set(p, at), x.length);
    if (dist < w - 1) await this.ringStep(x, () => {}, 0);
  }

  /** Ends this rank's part: each neighbour is told, so a rank that finishes first does not look like one that died
   * to the ranks still taking in the last collective's pieces. */
  close(): void { this.shut((p) => p.finish()); }

  private shut(each: (p: Peer) => void): void {
    for (const p of this.peers) each(p);
    this.server?.close();
  }
}
