//! The device's one WebSocket: feeds the wasm Session, writes what it transmits, hands its events
//! on, and reconnects with exponential back-off and jitter (1 s → 30 s), at once when the browser
//! comes back online or the page becomes visible. After `superseded` (another tab took over),
//! `device_revoked` or `unknown_device` it stays down until told otherwise.

import type { Session, SessionEvent } from './core';

/** Offered at the upgrade: the hot frames (send, deliver, ack, accepted) then travel as binary
 * messages (protocol/README.md, "Binary encoding of the hot frames"). */
const BINARY_SUBPROTOCOL = 'sallyport.bin.v1';

/** Told of each `incident_changed` frame (protocol §16: that incident's board changed, fetch it). */
export const incidentListeners = new Set<(incident: string) => void>();

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'superseded' | 'revoked' | 'stopped';

/** Fatal codes after which reconnecting automatically is wrong. */
const STOP_CODES: Record<string, ConnectionState> = {
  superseded: 'superseded',
  device_revoked: 'revoked',
  unknown_device: 'revoked',
};

/** Back-off before attempt `n` (0-based), with jitter in [50 %, 100 %]. */
export function backoffMs(n: number, random: () => number = Math.random): number {
  const cap = Math.min(30_000, 1000 * 2 ** Math.min(n, 5));
  return Math.round(cap * (0.5 + 0.5 * random()));
}

export class Connection {
  state: ConnectionState = 'offline';
  /** The server refused this device's clock (`clock_skew`); cleared by the next `ready`. */
  clockSkew = false;
  private ws: WebSocket | undefined;
  private attempt = 0;
  /** Whether the next socket offers the binary subprotocol. A server from before it selects none,
   * and the browser then fails the handshake (RFC 6455 §4.1), so after a socket that never opened
   * the next attempt offers the other way: such a server is reached on JSON one back-off later. */
  private offerBinary = true;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly wake = () => {
    if (this.state === 'offline') this.connectNow();
  };
  /** The browser says the network is gone: a socket may not notice for a long while. */
  private readonly onOffline = () => {
    if (this.state === 'online' || this.state === 'connecting') {
      this.close();
      this.scheduleReconnect();
    }
  };
  private readonly onVisible = () => {
    if (document.visibilityState === 'visible') this.wake();
  };

  constructor(
    private readonly session: Session,
    private readonly url: string,
    private readonly onEvents: (events: SessionEvent[]) => void,
    private readonly onState: (state: ConnectionState) => void,
  ) {}

  start(): void {
    window.addEventListener('online', this.wake);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.connectNow();
  }

  /** Stops for good (lock, sign-out): no reconnect. */
  stop(): void {
    window.removeEventListener('online', this.wake);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    clearTimeout(this.timer);
    this.setState('stopped');
    this.close();
  }

  /** Reconnects now even after `superseded` ("Use here"). */
  connectNow(): void {
    clearTimeout(this.timer);
    this.close();
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = this.offerBinary ? new WebSocket(this.url, [BINARY_SUBPROTOCOL]) : new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (this.ws !== ws) return;
      this.session.connected(ws.protocol);
      this.flush();
    };
    ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
      if (this.ws !== ws) return;
      try {
        if (typeof e.data === 'string') this.session.handleText(e.data, Date.now());
        else this.session.handleBinary(new Uint8Array(e.data), Date.now());
      } catch {
        ws.close(1002, 'protocol violation');
      }
      this.flush();
    };
    ws.onclose = () => {
      if (!opened) this.offerBinary = !this.offerBinary;
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.session.disconnected();
      this.flush();
      if (this.state === 'connecting' || this.state === 'online') this.scheduleReconnect();
    };
  }

  /** Writes whatever the session has queued (call after every Session method). */
  flush(): void {
    const out = this.session.drain();
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) for (const frame of out.transmit) ws.send(frame);
    for (const e of out.events) {
      if (e.type === 'ready') {
        this.attempt = 0;
        this.clockSkew = false;
        this.setState('online');
      } else if (e.type === 'error' && e.code === 'clock_skew') {
        this.clockSkew = true;
      } else if (e.type === 'error' && STOP_CODES[e.code]) {
        this.setState(STOP_CODES[e.code]!);
      } else if (e.type === 'incident_changed') {
        for (const fn of incidentListeners) fn(e.incident);
      }
    }
    if (out.events.length) this.onEvents(out.events);
  }

  private close(): void {
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close();
      this.session.disconnected();
      const out = this.session.drain();
      if (out.events.length) this.onEvents(out.events);
    }
  }

  private scheduleReconnect(): void {
    clearTimeout(this.timer);
    this.setState('offline');
    const delay = backoffMs(this.attempt++);
    this.timer = setTimeout(() => this.connectNow(), delay);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.onState(state);
  }
}
