/** HTTP_LOOPS: `auto` (the default) is half the cores, 1 to MAX_AUTO_HTTP_LOOPS; anything but `auto` or an integer >= 1 stops start-up. */
import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { autoHttpLoops, ConfigError, loadConfig, MAX_AUTO_HTTP_LOOPS } from '../../src/config.js';

it('runs auto by default: half the available cores, at least 1, at most MAX_AUTO_HTTP_LOOPS', () => {
  expect(loadConfig({}).httpLoops).toBe(autoHttpLoops(availableParallelism()));
  expect(loadConfig({ HTTP_LOOPS: 'auto' }).httpLoops).toBe(autoHttpLoops(availableParallelism()));
  expect([1, 2, 3, 4, 5, 16, 17, 64].map(autoHttpLoops)).toEqual([1, 1, 1, 2, 2, 8, 8, 8]);
  expect(MAX_AUTO_HTTP_LOOPS).toBe(8);
});

it.each(['0', '-1', '1.5', 'many', '65'])('refuses HTTP_LOOPS=%s with a message naming it', (value) => {
  expect(() => loadConfig({ HTTP_LOOPS: value })).toThrow(ConfigError);
  expect(() => loadConfig({ HTTP_LOOPS: value })).toThrow(/HTTP_LOOPS/);
});
