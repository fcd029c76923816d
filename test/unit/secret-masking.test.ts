/** Passwords and tokens never reach an error message or a log line. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { maskUrl, parseStoreUrl } from '../../src/store/index.js';
import { loggerOptions } from '../../src/util/log.js';
import { maskUrlsIn } from '../../src/util/mask.js';

function capture(): { log: pino.Logger; text: () => string } {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  return { log: pino(loggerOptions('debug', 'test'), sink), text: () => out };
}

describe('maskUrl', () => {
  it.each([
    ['etcd://wyvern:s3cret@127.0.0.1:2379', 'etcd://wyvern:***@127.0.0.1:2379'],
    ['etcds://wyvern:s3cret@a:1,b:2', 'etcds://wyvern:***@a:1,b:2'],
    ['etcd://wyvern:s%40cret@h:1', 'etcd://wyvern:***@h:1'],
    ['etcd://wyvern:p@ss@h:1', 'etcd://wyvern:***@h:1'],
    ['etcd://s3cret@h:1', 'etcd://***@h:1'],
    ['etcd://wyvern:s3cret@', 'etcd://wyvern:***@'],
    ['etcd:/wyvern:s3cret@h', 'etcd:/wyvern:***@h'],
    ['wyvern:s3cret@h:1', 'wyvern:***@h:1'],
    ['etcd://127.0.0.1:2379', 'etcd://127.0.0.1:2379'],
    ['level:/var/lib/wyvern', 'level:/var/lib/wyvern'],
    ['level:/var/lib/wyvern@2', 'level:/var/lib/wyvern@2'],
  ])('%s → %s', (url, shown) => {
    expect(maskUrl(url)).toBe(shown);
  });

  it('masks URL credentials inside free text', () => {
    expect(maskUrlsIn('connect to etcds://u:s3cret@h:1 failed; retry etcd://v:p@ss@x:2')).toBe(
      'connect to etcds://u:***@h:1 failed; retry etcd://v:***@x:2',
    );
  });
});

describe('store URL errors', () => {
  it.each([
    'etcd://wyvern:s3cret@',
    'etcd://wyvern:s3cret@host',
    'etcd://wyvern:s3cret@host:99999',
    'etcd://:s3cret@h:1',
    'etcd://s3cret@h:1',
    'etcx://wyvern:s3cret@h:1',
    'etcd://wyvern:s3cret@h:1,,x',
  ])('%s: the error names the problem, not the password', (url) => {
    let msg = '';
    try {
      parseStoreUrl(url);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/invalid store URL/);
    expect(msg).not.toContain('s3cret');
  });
});

describe('logger', () => {
  it('redacts password, token and authorization fields', () => {
    const { log, text } = capture();
    log.info({ password: 's3cret-1', config: { apiToken: 's3cret-2', storePassword: 's3cret-3' }, token: 's3cret-4' }, 'a');
    log.info({ req: { headers: { authorization: 'Bearer s3cret-5' } }, headers: { authorization: 'Bearer s3cret-6' } }, 'b');
    log.flush();
    expect(text()).toContain('[redacted]');
    expect(text()).not.toMatch(/s3cret/);
  });

  it('masks store URLs in fields and in errors (message and stack)', () => {
    const { log, text } = capture();
    log.info({ store: 'etcd://u:s3cret@h:1', url: 'https://u:s3cret@api:1' }, 'c');
    log.fatal({ err: new Error('cannot open etcd://u:s3cret@h:1') }, 'agent failed to start');
    log.flush();
    expect(text()).toContain('etcd://u:***@h:1');
    expect(text()).toContain('cannot open');
    expect(text()).not.toContain('s3cret');
  });
});
