/**
 * A real pino logger whose JSON lines a test can read: every line, or only those `keep` accepts
 * (for example one event), parsed, in order.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type LogLine = Record<string, unknown>;

export interface CapturedLog<Line = LogLine> {
  readonly logger: Logger;
  readonly lines: Line[];
}

export function captureLog<Line = LogLine>(options: { readonly level?: string; readonly keep?: (line: LogLine) => boolean } = {}): CapturedLog<Line> {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text.trim()) continue;
        const line = JSON.parse(text) as LogLine;
        if (!options.keep || options.keep(line)) lines.push(line as Line);
      }
      done();
    },
  });
  return { logger: pino({ level: options.level ?? 'info' }, sink), lines };
}
