// A TCP proxy on 127.0.0.1 for partition tests: forwards to a target and can cut every
// connection (and refuse new ones), stall (keep connections open but forward nothing: a
// half-open link), delay, or cut after N bytes from the target (in the middle of a frame).
import type { Socket, TCPSocketListener } from "bun";

interface Pair {
  client: Socket<{ pair?: Pair }>;
  upstream: Socket<{ pair?: Pair }> | null;
  pendingToUpstream: Uint8Array[];
  downBytes: number;
}

export class TcpProxy {
  private listener!: TCPSocketListener<{ pair?: Pair }>;
  private readonly pairs = new Set<Pair>();
  mode: "pass" | "cut" | "stall" = "pass";
  delayMs = 0;
  /** Cut after this many bytes flowed from the target (undefined: never). */
  cutAfterDownBytes: number | undefined;
  bytesDown = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = "127.0.0.1",
  ) {}

  get port(): number {
    return this.listener.port;
  }

  start(): this {
    const proxy = this;
    this.listener = Bun.listen<{ pair?: Pair }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(client) {
          client.data = {};
          if (proxy.mode === "cut") {
            client.end();
            return;
          }
          const pair: Pair = { client, upstream: null, pendingToUpstream: [], downBytes: 0 };
          client.data = { pair };
          proxy.pairs.add(pair);
          Bun.connect<{ pair?: Pair }>({
            hostname: proxy.targetHost,
            port: proxy.targetPort,
            socket: {
              open(up) {
                up.data = { pair };
                pair.upstream = up;
                for (const c of pair.pendingToUpstream) up.write(c);
                pair.pendingToUpstream = [];
              },
              data(_up, chunk) {
                proxy.forwardDown(pair, chunk);
              },
              close() {
                proxy.drop(pair);
              },
              error() {
                proxy.drop(pair);
              },
            },
          }).catch(() => proxy.drop(pair));
        },
        data(client, chunk) {
          const pair = client.data?.pair;
          if (!pair || proxy.mode !== "pass") return;
          const copy = chunk.slice();
          const send = () => (pair.upstream ? pair.upstream.write(copy) : pair.pendingToUpstream.push(copy));
          if (proxy.delayMs) setTimeout(send, proxy.delayMs);
          else send();
        },
        close(client) {
          if (client.data?.pair) proxy.drop(client.data.pair);
        },
        error(client) {
          if (client.data?.pair) proxy.drop(client.data.pair);
        },
      },
    });
    return this;
  }

  private forwardDown(pair: Pair, chunk: Uint8Array): void {
    if (this.mode !== "pass") return;
    let data = chunk.slice();
    if (this.cutAfterDownBytes !== undefined) {
      const room = this.cutAfterDownBytes - this.bytesDown;
      if (room <= 0) return;
      if (data.length >= room) {
        data = data.subarray(0, room);
        this.bytesDown += data.length;
        pair.client.write(data);
        this.cutAfterDownBytes = undefined;
        this.cutAll();
        return;
      }
    }
    this.bytesDown += data.length;
    const send = () => pair.client.write(data);
    if (this.delayMs) setTimeout(send, this.delayMs);
    else send();
  }

  private drop(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.end();
    pair.upstream?.end();
  }

  /** Closes every connection now. */
  cutAll(): void {
    for (const p of [...this.pairs]) this.drop(p);
  }

  stop(): void {
    this.cutAll();
    this.listener.stop(true);
  }
}
