/**
 * Closes an HTTP server's connections without resetting one that carries a request. Node's own
 * `closeAllConnections()` destroys sockets mid-request, and `closeIdleConnections()` alone races
 * keep-alive clients: a socket that looks idle to the server may already hold the client's next
 * request in flight, and closing it then is the ECONNRESET / "other side closed" a client sees.
 *
 * So, from `beginDrain()` on: every response says `Connection: close` (Node then ends its socket
 * once the response is written), a request arriving on an idle keep-alive socket is answered (the
 * request gate says 503 SHUTTING_DOWN) and that answer closes it, and sockets still idle after a
 * short grace are closed by `closeIdle()`. A response counts as in flight until its last byte is
 * written (`close` on the ServerResponse), not just until the handler returned. Only
 * `destroyAll()`, for when the drain timeout is over, destroys a socket that carries a request.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export class ConnectionDrainer {
  /** Open sockets and how many of their responses are not fully written yet. */
  readonly #sockets = new Map<Socket, number>();
  /** Responses whose headers may still be changed when the drain begins. */
  readonly #responses = new Set<ServerResponse>();
  #draining = false;
  #waiters: Array<() => void> = [];

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.#sockets.set(socket, 0);
      socket.once('close', () => {
        this.#sockets.delete(socket);
        this.#wake();
      });
    });
    // Before the app's own listener, so the header is in place before anything is written.
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => this.#track(request.socket, response));
  }

  /** Responses not fully written yet, on every socket. */
  get activeResponses(): number {
    let active = 0;
    for (const count of this.#sockets.values()) active += count;
    return active;
  }

  /** Open sockets, idle or not. */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** From now on every response, including those already being handled, closes its socket. */
  beginDrain(): void {
    this.#draining = true;
    for (const response of this.#responses) if (!response.headersSent) response.setHeader('connection', 'close');
  }

  /**
   * Resolves true once no response is being written (or, with 'sockets-closed', once every
   * socket has closed), or false after `timeoutMs`.
   */
  whenIdle(timeoutMs: number, until: 'responses-written' | 'sockets-closed' = 'responses-written'): Promise<boolean> {
    const done = () => (until === 'sockets-closed' ? this.#sockets.size === 0 : this.activeResponses === 0);
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== check);
        resolve(false);
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((waiter) => waiter !== check);
        resolve(true);
      };
      this.#waiters.push(check);
    });
  }

  /**
   * Ends every socket that carries no request. A request whose headers have not all arrived is
   * not seen yet; the headers timeout bounds how long one can take.
   */
  closeIdle(): void {
    for (const [socket, active] of this.#sockets) if (active === 0) socket.end();
  }

  /** The drain timeout is over: destroy whatever is still open. */
  destroyAll(): void {
    for (const socket of this.#sockets.keys()) socket.destroy();
  }

  #track(socket: Socket, response: ServerResponse): void {
    this.#sockets.set(socket, (this.#sockets.get(socket) ?? 0) + 1);
    this.#responses.add(response);
    if (this.#draining) response.setHeader('connection', 'close');
    response.once('close', () => {
      this.#responses.delete(response);
      const left = (this.#sockets.get(socket) ?? 1) - 1;
      if (this.#sockets.has(socket)) this.#sockets.set(socket, left);
      this.#wake();
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
