/**
 * One backup restored by several operators (or one retrying) at once, through three API servers on a real etcd: every
 * import answers 200 and the store holds the document once. An import's chunk refused because its keys were written
 * meanwhile is read again: keys holding what the import writes are its own (or the same document's), not a race.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { Topology } from '../../src/model/repo.js';
import type { TopologyDocument } from '../../src/model/types.js';
import { openStore } from '../../src/store/index.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

let etcd: EtcdCluster;
let stores: Store[];
let servers: ApiServer[];
let doc: TopologyDocument;

beforeAll(async () => {
  etcd = await startEtcd();
  stores = await Promise.all([0, 1, 2].map(() => openStore(etcd.url)));
  servers = await Promise.all(stores.map((store) => startApiServer({ store, listen: 'tcp:127.0.0.1:0' })));
  // A backup of 300 ports: an import of it writes ~1,500 keys, fifteen chunks.
  const src = new Topology(createMemoryStore());
  await src.createNetwork({ name: 'restored' });
  await src.createSubnet({ name: 'restored-s', network: 'restored', cidr: '10.20.0.0/22' });
  for (let i = 0; i < 300; i += 50)
    await Promise.all(Array.from({ length: 50 }, (_, k) => src.createPort({ name: `vm${i + k}`, network: 'restored' })));
  doc = await src.exportTopology();
  src.close();
});

afterAll(async () => {
  await Promise.all((servers ?? []).map((s) => s.close()));
  await Promise.all((stores ?? []).map((s) => s.close()));
  await etcd?.stop();
});

describe('one topology imported through three API servers at once', () => {
  it('every import answers 200; the store holds the document once; importing it again writes nothing', async () => {
    const cs = servers.map((s) => new ApiClient(s.url));
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => cs[i % 3]!.raw('PUT', '/v1/topology', doc)));
    expect(rs.map((r) => [r.status, JSON.stringify(r.body).slice(0, 200)])).toEqual(
      rs.map((r) => [200, JSON.stringify(r.body).slice(0, 200)]),
    );
    const written = rs.map((r) => (r.body as { written: number }).written);
    // Every key written once in all: no import wrote a key another had written.
    const keys = (await stores[0]!.range('/wyvern/v1/')).kvs.length;
    expect(written.reduce((a, b) => a + b, 0)).toBe(keys);
    const back = await cs[1]!.raw('GET', '/v1/topology');
    expect(back.body).toEqual(doc);
    expect(((await cs[2]!.raw('PUT', '/v1/topology', doc)).body as { written: number }).written).toBe(0);
  });
});
