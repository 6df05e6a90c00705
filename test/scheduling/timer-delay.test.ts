import { expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS, timerDelayMs } from '../../src/scheduling/timer-delay.js';

it('keeps the longest valid timeout a valid timer delay, whatever the clock reads', () => {
  // performance.now() values for which (now + max) - now is an ulp above max.
  const overflowing = [415494.51, 196410.452, 533280.405, 12345.678].filter((now) => now + MAX_TIMER_DELAY_MS - now > MAX_TIMER_DELAY_MS);
  expect(overflowing).toEqual([415494.51, 196410.452, 533280.405]);
  for (const now of overflowing) expect(timerDelayMs(now + MAX_TIMER_DELAY_MS - now)).toBe(MAX_TIMER_DELAY_MS);
  expect(timerDelayMs(-5)).toBe(0);
  expect(timerDelayMs(1500)).toBe(1500);
});
