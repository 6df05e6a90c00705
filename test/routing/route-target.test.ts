/** The routing table's grammar: alias names, targets, one-level alias lookup, split draws. */
import { describe, expect, it } from 'vitest';
import { RouteTable } from '../../src/routing/route-table.js';
import {
  formatRouteTarget,
  isValidAlias,
  parseRouteTarget,
  pickSplitVersion,
  RouteTargetError,
} from '../../src/routing/route-target.js';

describe('isValidAlias', () => {
  it.each(['default', 'stable', 'canary', 'latest', 'a', 'blue-green_2', `a${'b'.repeat(63)}`])('accepts %s', (alias) => {
    expect(isValidAlias(alias)).toBe(true);
  });

  it.each(['', 'Stable', '2', '-a', '_a', 'a b', 'a.b', 'a:b', '__proto__', `a${'b'.repeat(64)}`, 'stäble'])(
    'refuses %j',
    (alias) => {
      expect(isValidAlias(alias)).toBe(false);
    },
  );
});

describe('parseRouteTarget', () => {
  it.each([
    ['3', { kind: 'version', version: 3 }],
    [' 12 ', { kind: 'version', version: 12 }],
    ['2:90,3:10', { kind: 'split', parts: [{ version: 2, weight: 90 }, { version: 3, weight: 10 }] }],
    ['2:90, 3:10', { kind: 'split', parts: [{ version: 2, weight: 90 }, { version: 3, weight: 10 }] }],
    ['1:1,2:1,3:2', { kind: 'split', parts: [{ version: 1, weight: 1 }, { version: 2, weight: 1 }, { version: 3, weight: 2 }] }],
    ['4:100', { kind: 'split', parts: [{ version: 4, weight: 100 }] }],
    ['2:0,3:1', { kind: 'split', parts: [{ version: 2, weight: 0 }, { version: 3, weight: 1 }] }],
    ['stable', { kind: 'alias', alias: 'stable' }],
    ['latest', { kind: 'alias', alias: 'latest' }],
  ])('parses %j', (raw, expected) => {
    expect(parseRouteTarget(raw)).toEqual(expected);
  });

  it.each([
    ['', /empty/],
    ['   ', /empty/],
    ['0', /positive integer/],
    ['03', /leading zeros/],
    ['99999999999999999999', /not a valid version/],
    ['-1', /not a version/],
    ['1.5', /not a version/],
    ['Stable', /not a version/],
    ['two words', /not a version/],
    ['2:90,', /not <version>:<weight>/],
    ['2:90;3:10', /not <version>:<weight>/],
    ['2:x', /not <version>:<weight>/],
    [':5', /not <version>:<weight>/],
    ['2:-1', /not <version>:<weight>/],
    ['0:5,1:5', /version is not a positive integer/],
    ['2:50,2:50', /names version 2 twice/],
    ['2:0,3:0', /no part with a positive weight/],
    ['2:1000001', /weight above/],
  ])('refuses %j', (raw, reason) => {
    let caught: unknown;
    try {
      parseRouteTarget(raw);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RouteTargetError);
    expect((caught as RouteTargetError).reason).toMatch(reason);
    expect((caught as RouteTargetError).message).toContain(`"${raw}"`);
  });

  it('formats what it parses back to the canonical spelling', () => {
    expect(formatRouteTarget(parseRouteTarget(' 2:90 , 3:10 '))).toBe('2:90,3:10');
    expect(formatRouteTarget(parseRouteTarget('7'))).toBe('7');
    expect(formatRouteTarget(parseRouteTarget('stable'))).toBe('stable');
  });
});

describe('pickSplitVersion', () => {
  const parts = [
    { version: 2, weight: 90 },
    { version: 3, weight: 0 },
    { version: 4, weight: 10 },
  ];

  it('maps draws onto cumulative weights and never draws a zero weight', () => {
    expect(pickSplitVersion(parts, 0)).toBe(2);
    expect(pickSplitVersion(parts, 0.8999)).toBe(2);
    expect(pickSplitVersion(parts, 0.9)).toBe(4);
    expect(pickSplitVersion(parts, 0.99999)).toBe(4);
    const drawn = new Set<number>();
    for (let i = 0; i < 1000; i++) drawn.add(pickSplitVersion(parts, i / 1000));
    expect([...drawn].sort()).toEqual([2, 4]);
  });
});

describe('RouteTable.lookup', () => {
  it('follows one alias level to a version, a split or the built-in latest', () => {
    const table = new RouteTable({ default: 'stable', stable: '2', canary: '2:90,3:10', edge: 'latest', latest: '1' });
    expect(table.lookup('default')).toEqual({ kind: 'target', target: { kind: 'version', version: 2 } });
    expect(table.lookup('canary')).toMatchObject({ kind: 'target', target: { kind: 'split' } });
    expect(table.lookup('edge')).toEqual({ kind: 'target', target: { kind: 'version', version: 1 } });
    expect(new RouteTable({ edge: 'latest' }).lookup('edge')).toEqual({ kind: 'latest' });
    expect(new RouteTable({}).lookup('latest')).toEqual({ kind: 'latest' });
    expect(new RouteTable({}).lookup('stable')).toEqual({ kind: 'missing' });
  });

  it('does not find Object.prototype members', () => {
    expect(new RouteTable({}).lookup('constructor')).toEqual({ kind: 'missing' });
    expect(new RouteTable({ a: 'constructor' }).lookup('a')).toMatchObject({ kind: 'invalid' });
  });

  it.each([
    ['a self loop', { default: 'default' }, 'default', /itself \(a loop\)/],
    ['a two-alias loop', { a: 'b', b: 'a' }, 'a', /names "a" back \(a loop\)/],
    ['a dangling name', { default: 'nosuch' }, 'default', /"nosuch", which the table does not have/],
    ['a chain of two', { default: 'stable', stable: 'beta', beta: '2' }, 'default', /one level deep/],
    ['a malformed target', { canary: '3:x' }, 'canary', /not <version>:<weight>/],
    ['an alias naming a malformed one', { default: 'canary', canary: '3:x' }, 'default', /"canary", whose target "3:x"/],
    ['default naming an unset default', { canary: 'default' }, 'canary', /does not have/],
  ])('reports %s as invalid', (_name, routes, alias, reason) => {
    const found = new RouteTable(routes).lookup(alias);
    expect(found.kind).toBe('invalid');
    if (found.kind === 'invalid') expect(found.reason).toMatch(reason);
  });

  it('keeps a malformed entry from spoiling the others, and lists the problems', () => {
    const table = new RouteTable({ stable: '2', canary: '3:x', Bad: '2', loop: 'loop' });
    expect(table.lookup('stable')).toEqual({ kind: 'target', target: { kind: 'version', version: 2 } });
    expect(table.problems().map((problem) => problem.alias).sort()).toEqual(['Bad', 'canary', 'loop']);
  });
});
