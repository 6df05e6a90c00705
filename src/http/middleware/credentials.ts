/**
 * Secrets as presented by clients (API keys, the admin token): how they are read from headers and
 * compared. Comparisons go through sha256 digests with timingSafeEqual, so neither a secret's
 * content nor its length leaks by timing.
 */
import { createHash } from 'node:crypto';

/** The digest every secret is compared by (equal length whatever the secret's). */
export function secretDigest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The bearer token of an Authorization header, or undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
