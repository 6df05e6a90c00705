/**
 * BackgroundReading on its own, with plain functions as the source: one read at a time, a read
 * that never settles is given up after the timeout (the next one then starts), and a failed read
 * keeps the last good value while its age grows.
 */
import { afterEach, expect, it } from 'vitest';
import { BackgroundReading } from '../../src/metrics/background-reading.js';
import { consistently, eventually } from '../support/eventually.js';

const readings: Array<BackgroundReading<unknown>> = [];
afterEach(() => {
  for (const reading of readings.splice(0)) reading.close();
});

function track<T>(reading: BackgroundReading<T>): BackgroundReading<T> {
  readings.push(reading as BackgroundReading<unknown>);
  return reading;
}

it('gives up a read that never settles and starts the next one, one at a time', async () => {
  let calls = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const errors: unknown[] = [];
  const reading = track(
    new BackgroundReading<number>({
      read: () => {
        calls++;
        if (calls === 1) return new Promise<number>(() => {}); // a hung source
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise<number>((resolve) => setTimeout(() => (inFlight--, resolve(calls)), 5));
      },
      intervalMs: 10,
      timeoutMs: 50,
      onError: (error) => errors.push(error),
    }),
  );
  expect(reading.value).toBeUndefined();
  expect(reading.ageSeconds()).toBe(Number.POSITIVE_INFINITY);
  reading.start();
  await eventually(() => reading.value !== undefined, 10_000, 'a value after the hung read');
  expect(errors).toHaveLength(1);
  expect(String(errors[0])).toContain('no answer within 50 ms');
  expect(reading.ageSeconds()).toBeLessThan(Number.POSITIVE_INFINITY);
  await eventually(() => calls >= 5, 10_000, 'more reads');
  expect(maxInFlight).toBe(1);
});

it('keeps the last good value when reads fail, and stops reading on close', async () => {
  let calls = 0;
  const reading = track(
    new BackgroundReading<string>({
      read: async () => {
        calls++;
        if (calls > 1) throw new Error('source down');
        return 'first';
      },
      intervalMs: 10,
      timeoutMs: 1_000,
    }),
  );
  reading.start();
  reading.start(); // a second start changes nothing
  await eventually(() => calls >= 3, 10_000, 'failing reads');
  expect(reading.value).toBe('first');
  reading.close();
  const after = calls;
  await consistently(() => calls === after, 200, 'no read after close');
});
