/**
 * The address of the client behind a request, for rate limits. Without trusted proxies
 * (TRUSTED_PROXIES unset, the default) it is the socket's peer and X-Forwarded-For is ignored:
 * anyone can write that header. When the peer is a trusted proxy, X-Forwarded-For is walked from
 * the right (each proxy appends the address it saw), skipping trusted hops, and the first
 * untrusted address is the client; if every hop is trusted, the leftmost one is. A hop that is not
 * an address, met before the client was found, makes the whole header untrustworthy: the peer's
 * address is used, never an error. Addresses to the left of the client are never read, so what
 * a client writes into the header itself changes nothing.
 *
 * node:net's BlockList does the matching (addresses and CIDR subnets, IPv4-mapped IPv6 included)
 * rather than the proxy-addr package express uses: that would bring three packages and types for
 * a dozen lines, and it returns a malformed hop as the client's "address" instead of refusing it.
 */
import { BlockList, isIP } from 'node:net';

/** `1.2.3.4:80` and `[::1]:80` (some proxies add the port), or `[::1]`. */
const WITH_PORT = /^(?:\[([^\]]+)\]|(\d{1,3}(?:\.\d{1,3}){3}))(?::\d{1,5})?$/;

/** A hop or peer as a normalised address (IPv4-mapped IPv6 as IPv4), or undefined if it is not one. */
export function parseAddress(text: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  let candidate = text.trim();
  if (isIP(candidate) === 0) {
    const match = WITH_PORT.exec(candidate);
    candidate = match?.[1] ?? match?.[2] ?? '';
  }
  const version = isIP(candidate);
  if (version === 4) return { address: candidate, family: 'ipv4' };
  if (version !== 6 || candidate.includes('%')) return undefined; // zone ids mean nothing off this host
  const lower = candidate.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower)?.[1];
  return mapped !== undefined && isIP(mapped) === 4 ? { address: mapped, family: 'ipv4' } : { address: lower, family: 'ipv6' };
}

export class ClientAddressResolver {
  readonly #trusted = new BlockList();
  readonly #any: boolean;

  /** `trustedProxies`: addresses and CIDR subnets (`10.0.0.0/8`, `fd00::/8`), as config.ts checked them. */
  constructor(trustedProxies: readonly string[] = []) {
    for (const entry of trustedProxies) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address) === 4 ? 'ipv4' : 'ipv6'; // BlockList refuses what is neither
      if (prefix === undefined) this.#trusted.addAddress(address, family);
      else this.#trusted.addSubnet(address, Number(prefix), family);
    }
    this.#any = trustedProxies.length > 0;
  }

  /** The client's address from the socket's peer and the X-Forwarded-For header (if any). */
  resolve(peer: string | undefined, forwardedFor: string | undefined): string {
    const socket = peer === undefined ? undefined : parseAddress(peer);
    if (socket === undefined) return peer ?? 'unknown';
    if (!this.#any || forwardedFor === undefined || !this.#trusts(socket)) return socket.address;
    const hops = forwardedFor.split(',');
    let leftmost = socket;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = parseAddress(hops[i]!);
      if (hop === undefined) return socket.address;
      if (!this.#trusts(hop)) return hop.address;
      leftmost = hop;
    }
    return leftmost.address;
  }

  #trusts(address: { address: string; family: 'ipv4' | 'ipv6' }): boolean {
    return this.#trusted.check(address.address, address.family);
  }
}
