/**
 * Entry point. The Node version is checked before anything else is even imported: a dependency
 * may not load on an older Node at all (undici 8 throws at import on Node 20), and static imports
 * would run before the check. Then the gateway's process (gateway-main.ts).
 */
import { exitUnlessSupportedNode } from './node-version.js';

exitUnlessSupportedNode();
await import('./gateway-main.js');
