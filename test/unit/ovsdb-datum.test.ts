import { describe, expect, it } from 'vitest';
import { NamedUuid, Uuid, decodeValue, encodeValue, mapGet, optional, stringMap, valueEquals } from '../../src/ovsdb/datum.js';
import { OvsdbError } from '../../src/ovsdb/errors.js';
import { decodeDatum, defaultDatum, encodeDatum, parseSchema } from '../../src/ovsdb/schema.js';
import { encodeOperation } from '../../src/ovsdb/operations.js';
import { readFileSync } from 'node:fs';

const U = '550e8400-e29b-41d4-a716-446655440000';
const vswitch = parseSchema(JSON.parse(readFileSync('/usr/share/openvswitch/vswitch.ovsschema', 'utf8')));
const col = (t: string, c: string) => vswitch.tables[t]!.columns[c]!.type;

describe('ovsdb datums', () => {
  it('encodes atoms, sets, maps, uuid and named-uuid by shape', () => {
    expect(encodeValue(5)).toBe(5);
    expect(encodeValue('x')).toBe('x');
    expect(encodeValue(new Uuid(U))).toEqual(['uuid', U]);
    expect(encodeValue(new NamedUuid('row1'))).toEqual(['named-uuid', 'row1']);
    expect(encodeValue([1, 2])).toEqual(['set', [1, 2]]);
    expect(encodeValue(new Map([['a', 'b']]))).toEqual(['map', [['a', 'b']]]);
    expect(encodeValue({ k: 'v' })).toEqual(['map', [['k', 'v']]]);
  });

  it('round-trips wire datums', () => {
    for (const w of [1, 'a', true, ['uuid', U], ['set', [1, 2]], ['map', [['a', ['uuid', U]]]]]) {
      expect(JSON.parse(JSON.stringify(encodeValue(decodeValue(w))))).toEqual(w);
    }
  });

  it('compares sets without order and maps by key', () => {
    expect(valueEquals([1, 2, 3], [3, 1, 2])).toBe(true);
    expect(valueEquals([1, 2], [1, 3])).toBe(false);
    expect(valueEquals(new Map([[1, new Uuid(U)]]), new Map([[1, new Uuid(U)]]))).toBe(true);
    expect(valueEquals(new Map([['a', 'b']]), new Map([['a', 'c']]))).toBe(false);
    expect(valueEquals(new Uuid(U), new Uuid(U))).toBe(true);
    expect(valueEquals('1', 1)).toBe(false);
    expect(mapGet(new Map([[new Uuid(U), 'x']]), new Uuid(U))).toBe('x');
    expect(optional([7])).toBe(7);
    expect(optional([])).toBeUndefined();
    expect(stringMap(new Map([['iface-id', 'p1']]))).toEqual({ 'iface-id': 'p1' });
  });

  it('decodes into the column shape: optional columns are arrays, maps are Maps', () => {
    expect(decodeDatum(5, col('Interface', 'ofport'))).toEqual([5]);
    expect(decodeDatum(['set', []], col('Interface', 'ofport'))).toEqual([]);
    expect(decodeDatum('br0', col('Bridge', 'name'))).toBe('br0');
    expect(decodeDatum(['map', [['a', 'b']]], col('Bridge', 'external_ids'))).toEqual(new Map([['a', 'b']]));
    expect(defaultDatum(col('Interface', 'ofport'))).toEqual([]);
    expect(defaultDatum(col('Interface', 'type'))).toBe('');
  });

  it('checks datums against the schema before sending', () => {
    const bad = (f: () => unknown, re: RegExp) => {
      try {
        f();
        expect.fail('should throw');
      } catch (e) {
        expect(e).toBeInstanceOf(OvsdbError);
        expect((e as OvsdbError).code).toBe('schema');
        expect((e as Error).message).toMatch(re);
      }
    };
    bad(() => encodeDatum('x', col('Interface', 'ofport'), 'Interface.ofport'), /expected integer/);
    bad(() => encodeDatum([1, 2], col('Interface', 'ofport'), 'Interface.ofport'), /2 element/);
    bad(() => encodeDatum(['OpenFlow99'], col('Bridge', 'protocols'), 'Bridge.protocols'), /not one of/);
    bad(() => encodeDatum(new Map([[300, new Uuid(U)]]), col('Bridge', 'flow_tables'), 'x'), /above 254/);
    bad(() => encodeDatum(['notauuid'], col('Bridge', 'ports'), 'Bridge.ports'), /Uuid/);
    bad(() => encodeDatum({ a: 1 }, col('Bridge', 'external_ids'), 'Bridge.external_ids'), /expected string/);
    bad(() => encodeDatum(['a'], col('Bridge', 'external_ids'), 'Bridge.external_ids'), /expected a map/);
    bad(() => encodeOperation({ op: 'insert', table: 'Nope', row: {} }, vswitch, 3), /operation 3 \(insert\).*no table/);
    bad(() => encodeOperation({ op: 'update', table: 'Bridge', where: [], row: { colour: 'x' } }, vswitch, 0), /no column "colour"/);
    bad(() => encodeOperation({ op: 'update', table: 'Bridge', where: [], row: { name: 'x' } }, vswitch, 0), /immutable/);
    bad(() => encodeOperation({ op: 'insert', table: 'Bridge', row: { _uuid: new Uuid(U) } }, vswitch, 0), /read-only/);
    bad(() => encodeOperation({ op: 'mutate', table: 'Bridge', where: [], mutations: [['name', 'insert', 'x']] }, vswitch, 0), /immutable/);
    bad(() => encodeOperation({ op: 'select', table: 'Bridge', where: [['name', '<', 'x']] }, vswitch, 0), /ordering/);
    bad(() => encodeOperation({ op: 'insert', table: 'Bridge', row: {}, uuidName: 'bad-name' }, vswitch, 0), /uuid-name/);
  });

  it('encodes valid datums and operations', () => {
    expect(encodeDatum([new NamedUuid('p')], col('Bridge', 'ports'), 'x')).toEqual(['set', [['named-uuid', 'p']]]);
    expect(encodeDatum(5, col('Interface', 'ofport'), 'x')).toBe(5);
    expect(
      encodeOperation(
        { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br']], mutations: [['other_config', 'delete', ['k']]] },
        vswitch,
        0,
      ),
    ).toEqual({ op: 'mutate', table: 'Bridge', where: [['name', '==', 'br']], mutations: [['other_config', 'delete', ['set', ['k']]]] });
  });
});
