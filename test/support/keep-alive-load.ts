/**
 * Keep-alive clients under load for shutdown tests: each client posts on its own socket until an
 * answer tells it the socket is closing (Connection: close) or the gateway is shutting down (503).
 * Any socket error is recorded.
 */
import { Agent, request } from 'node:http';

export const LINEAR_BODY = JSON.stringify({ inputs: { input: [[1, 2, 3, 4]] } });

export interface KeepAliveLoadResult {
  readonly statuses: Map<number, number>;
  readonly errors: string[];
  closes: number;
  readonly codes503: Set<string>;
}

/**
 * `clients` keep-alive loops, each on its own socket, posting until an answer tells it the
 * socket is closing (Connection: close) or the gateway is shutting down. Any socket error counts.
 */
export function keepAliveLoad(url: string, clients: number, onResponses: (total: number) => void): Promise<KeepAliveLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const result: KeepAliveLoadResult = { statuses: new Map(), errors: [], closes: 0, codes503: new Set() };
  let total = 0;
  const { hostname, port } = new URL(url);
  const loop = async (): Promise<void> => {
    for (let i = 0; i < 100_000; i++) {
      const answer = await new Promise<{ status: number; close: boolean; body: string } | { error: string }>((resolve) => {
        const req = request(
          { host: hostname, port, path: '/models/linear/1/predict', method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, close: res.headers.connection === 'close', body }));
            res.on('error', (error) => resolve({ error: `response: ${error.message}` }));
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: `${error.code ?? ''} ${error.message}` }));
        req.end(LINEAR_BODY);
      });
      if ('error' in answer) {
        result.errors.push(answer.error);
        return;
      }
      result.statuses.set(answer.status, (result.statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 503) result.codes503.add((JSON.parse(answer.body) as { error: { code: string } }).error.code);
      onResponses(++total);
      if (answer.close || answer.status === 503) {
        result.closes++;
        return;
      }
    }
  };
  return Promise.all(Array.from({ length: clients }, loop)).then(() => {
    agent.destroy();
    return result;
  });
}
