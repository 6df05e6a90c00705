/**
 * The `Prefer` request header (RFC 7240): `respond-async` asks for a 202 and a job instead of
 * the answer, `wait=<seconds>` bounds how long the server may hold the request. Preferences are
 * comma-separated `token[=value]` items, each with optional `;`-parameters (ignored here);
 * unknown preferences are ignored, as the RFC asks.
 */

export interface Preferences {
  readonly respondAsync: boolean;
  /** Seconds, when a valid `wait` was given. */
  readonly waitSeconds?: number | undefined;
}

export function parsePrefer(header: string | undefined): Preferences {
  if (header === undefined) return { respondAsync: false };
  let respondAsync = false;
  let waitSeconds: number | undefined;
  for (const item of header.split(',')) {
    const [preference = ''] = item.split(';');
    const [rawName = '', rawValue] = preference.split('=', 2);
    const name = rawName.trim().toLowerCase();
    const value = rawValue?.trim().replace(/^"(.*)"$/, '$1');
    if (name === 'respond-async') respondAsync = true;
    else if (name === 'wait' && value !== undefined && /^\d+(\.\d+)?$/.test(value)) waitSeconds = Number(value);
  }
  return { respondAsync, waitSeconds };
}
