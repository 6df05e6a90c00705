/** HTTP_LOOPS: `auto` is the available parallelism capped at MAX_AUTO_HTTP_LOOPS; anything but `auto` or an integer >= 1 stops start-up. */
import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { ConfigError, loadConfig, MAX_AUTO_HTTP_LOOPS } from '../../src/config.js';

it('reads auto as the available parallelism, at most MAX_AUTO_HTTP_LOOPS', () => {
  expect(loadConfig({ HTTP_LOOPS: 'auto' }).httpLoops).toBe(Math.min(availableParallelism(), MAX_AUTO_HTTP_LOOPS));
  expect(MAX_AUTO_HTTP_LOOPS).toBe(8);
});

it.each(['0', '-1', '1.5', 'many', '65'])('refuses HTTP_LOOPS=%s with a message naming it', (value) => {
  expect(() => loadConfig({ HTTP_LOOPS: value })).toThrow(ConfigError);
  expect(() => loadConfig({ HTTP_LOOPS: value })).toThrow(/HTTP_LOOPS/);
});
