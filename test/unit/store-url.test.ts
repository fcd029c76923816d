import { describe, expect, it } from 'vitest';
import { openStore, parseStoreUrl, StoreError } from '../../src/store/index.js';

describe('store URLs', () => {
  it('parses every scheme', () => {
    expect(parseStoreUrl('memory:')).toEqual({ kind: 'memory' });
    expect(parseStoreUrl('level:/var/lib/wyvern/db')).toEqual({ kind: 'level', path: '/var/lib/wyvern/db' });
    expect(parseStoreUrl('level:///var/lib/x')).toEqual({ kind: 'level', path: '/var/lib/x' });
    expect(parseStoreUrl('level:rel/dir')).toEqual({ kind: 'level', path: 'rel/dir' });
    expect(parseStoreUrl('etcd://10.0.0.1:2379,10.0.0.2:2379,etcd-3.example:2379')).toEqual({
      kind: 'etcd',
      tls: false,
      endpoints: ['10.0.0.1:2379', '10.0.0.2:2379', 'etcd-3.example:2379'],
    });
    expect(parseStoreUrl('etcds://[::1]:2379/')).toEqual({ kind: 'etcd', tls: true, endpoints: ['[::1]:2379'] });
    expect(parseStoreUrl('etcd://wyvern:s%40cret:x@127.0.0.1:2379')).toEqual({
      kind: 'etcd',
      tls: false,
      endpoints: ['127.0.0.1:2379'],
      username: 'wyvern',
      password: 's@cret:x',
    });
  });

  it.each(['', 'redis://x:1', 'etcd://', 'etcd://host', 'etcd://host:99999', 'etcd://a:1,,b:2', 'level:', 'etcd://user@h:1', 'memory:x'])(
    'rejects %j with BAD_URL',
    (url) => {
      expect(() => parseStoreUrl(url)).toThrow(StoreError);
      try {
        parseStoreUrl(url);
      } catch (e) {
        expect((e as StoreError).code).toBe('BAD_URL');
        expect((e as Error).message).toMatch(/expected etcd:\/\//);
      }
    },
  );

  it('openStore refuses a bad URL, and etcds:// without a CA', async () => {
    await expect(openStore('nope:')).rejects.toMatchObject({ code: 'BAD_URL' });
    await expect(openStore('etcds://127.0.0.1:1')).rejects.toMatchObject({ code: 'BAD_URL' });
  });
});
