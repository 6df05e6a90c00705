/**
 * Runs before every test file (vitest setupFiles): the file's last afterAll closes whatever the
 * support helpers started outside a test and the test did not close itself.
 */
import { afterAll } from 'vitest';
import { runFileCleanups } from './cleanup.js';

// Registered before the file's own hooks, so with vitest's "stack" order it runs after them.
afterAll(runFileCleanups);
