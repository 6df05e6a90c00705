/**
 * TRUSTED_PROXIES: the rate limit's client behind a proxy. Over real HTTP every request comes
 * from 127.0.0.1, which plays the proxy; X-Forwarded-For says who its clients are. Trusted, two
 * clients get a bucket each; untrusted (the default, or a list without 127.0.0.1) the header is
 * ignored and they share the proxy's. Limits use long windows (burst 2 at 0.1 rps = 20 s), so no
 * assertion depends on the clock.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ClientAddressResolver } from '../../src/http/client-address.js';
import { LINEAR_INPUT, startTestGateway, type TestGateway } from '../support/gateway.js';

const LIMIT = { RATE_LIMIT_CLIENT_RPS: '0.1', RATE_LIMIT_CLIENT_BURST: '2' };

async function statuses(g: TestGateway, forwardedFor: Array<string | undefined>): Promise<number[]> {
  const result: number[] = [];
  for (const header of forwardedFor) {
    const response = await g.post('/models/linear/predict', LINEAR_INPUT, header === undefined ? {} : { 'x-forwarded-for': header });
    await response.arrayBuffer();
    result.push(response.status);
  }
  return result;
}

describe('rate limit clients behind a proxy, over HTTP', () => {
  it('gives each forwarded client its own bucket when the proxy (127.0.0.1) is trusted', async () => {
    const g = await startTestGateway({ env: { ...LIMIT, TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' } });
    expect(await statuses(g, ['203.0.113.1', '203.0.113.1', '203.0.113.1'])).toEqual([200, 200, 429]);
    // Another client behind the same proxy: a full bucket of its own.
    expect(await statuses(g, ['203.0.113.2', '203.0.113.2', '203.0.113.2'])).toEqual([200, 200, 429]);
    // Through a second trusted hop (10.1.1.1): still client 203.0.113.2, still empty.
    expect(await statuses(g, ['203.0.113.2, 10.1.1.1'])).toEqual([429]);
    // A client that writes its own X-Forwarded-For gets it prefixed to what the proxy appends:
    // only the proxy's entry counts, so rotating the rest changes nothing.
    expect(await statuses(g, ['198.51.100.1, 203.0.113.3', '198.51.100.2, 203.0.113.3', '198.51.100.3, 203.0.113.3'])).toEqual([200, 200, 429]);
    // A malformed header falls back to the proxy's own address (one bucket for all such), never a 500.
    expect(await statuses(g, ['not-an-address', '203.0.113.9, ,10.1.1.1', undefined])).toEqual([200, 200, 429]);
  });

  it('ignores X-Forwarded-For by default: every client behind the proxy shares its bucket', async () => {
    const g = await startTestGateway({ env: LIMIT });
    expect(await statuses(g, ['203.0.113.1', '203.0.113.2', '203.0.113.3'])).toEqual([200, 200, 429]);
  });

  it('ignores X-Forwarded-For from a peer that is not in the list (a spoofed header)', async () => {
    const g = await startTestGateway({ env: { ...LIMIT, TRUSTED_PROXIES: '10.0.0.0/8' } });
    expect(await statuses(g, ['203.0.113.1', '203.0.113.2', '203.0.113.3', undefined])).toEqual([200, 200, 429, 429]);
  });
});

describe('ClientAddressResolver', () => {
  const resolver = new ClientAddressResolver(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

  it('walks X-Forwarded-For from the right past trusted hops only when the peer is trusted', () => {
    expect(resolver.resolve('127.0.0.1', '1.1.1.1, 2.2.2.2, 10.0.0.1')).toBe('2.2.2.2');
    expect(resolver.resolve('::ffff:127.0.0.1', '2.2.2.2')).toBe('2.2.2.2');
    expect(resolver.resolve('10.9.9.9', '10.0.0.5, 10.0.0.6')).toBe('10.0.0.5'); // every hop trusted: the leftmost
    expect(resolver.resolve('192.0.2.1', '2.2.2.2')).toBe('192.0.2.1'); // untrusted peer: header ignored
    expect(resolver.resolve('::ffff:192.0.2.1', undefined)).toBe('192.0.2.1');
    expect(new ClientAddressResolver().resolve('127.0.0.1', '2.2.2.2')).toBe('127.0.0.1'); // nothing trusted
  });

  it('reads hops with ports and IPv6 ones, and falls back to the peer on anything else', () => {
    expect(resolver.resolve('127.0.0.1', '2.2.2.2:4711')).toBe('2.2.2.2');
    expect(resolver.resolve('127.0.0.1', '[2001:DB8::1]:443, fd00::7')).toBe('2001:db8::1');
    expect(resolver.resolve('fd00::1', '2001:db8::2')).toBe('2001:db8::2');
    for (const malformed of ['', ' ', 'unknown', '2.2.2.2,', '2.2.2', '300.1.1.1', 'fe80::1%eth0', '2.2.2.2;for=x', '[2.2.2.2]x']) {
      expect(resolver.resolve('127.0.0.1', malformed), malformed).toBe('127.0.0.1');
    }
    // Malformed text left of the client is never read.
    expect(resolver.resolve('127.0.0.1', 'garbage, 2.2.2.2')).toBe('2.2.2.2');
  });

  it('is configured by TRUSTED_PROXIES, which refuses anything but addresses and subnets', () => {
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(loadConfig({ TRUSTED_PROXIES: ' 10.0.0.0/8 ,fd00::/8,192.168.1.7 ' }).trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8', '192.168.1.7']);
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'proxy.local', '10.0.0.0/8/1', '10.0.0.0/x', 'loopback']) {
      expect(() => loadConfig({ TRUSTED_PROXIES: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ TRUSTED_PROXIES: bad }), bad).toThrow(/TRUSTED_PROXIES/);
    }
  });
});
