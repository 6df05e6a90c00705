/** A test's own HTTP server on 127.0.0.1, port 0, closed (with its open connections) after the test. */
import type { Server } from 'node:http';
import { cleanupAfter } from './cleanup.js';

/** Listens, registers the close, and resolves to the server's base URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanupAfter(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}
