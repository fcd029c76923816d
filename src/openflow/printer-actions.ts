/** Actions and instructions in ovs-ofctl syntax (as `ovs-ofctl -O OpenFlow13 dump-flows` prints them). */
import { dotted, formatSubfield, formatValue, hex, setFieldName } from './printer-values.js';
import type { Action, Instruction, NatAction, PortRef } from './types.js';

const REASONS = ['no_match', 'action', 'invalid_ttl', 'action_set', 'group', 'packet_out'];

export function formatPort(p: PortRef): string {
  return typeof p === 'number' ? String(p) : p.toUpperCase();
}

function formatOutput(port: PortRef, maxLen: number | undefined): string {
  if (port === 'controller') return `CONTROLLER:${maxLen ?? 0xffff}`;
  return typeof port === 'number' ? `output:${port}` : port.toUpperCase();
}

function formatNat(n: NatAction): string {
  const parts: string[] = [];
  let range = '';
  const v6 = n.ipv6Min !== undefined;
  const min = n.ipv4Min ?? n.ipv6Min;
  const max = n.ipv4Max ?? n.ipv6Max;
  const hasPorts = n.protoMin !== undefined;
  if (min !== undefined) {
    const wrap = (a: string): string => (v6 && hasPorts ? `[${a}]` : a);
    range = wrap(min) + (max !== undefined && max !== min ? `-${wrap(max)}` : '');
  }
  if (hasPorts) range += `:${n.protoMin}` + (n.protoMax !== undefined && n.protoMax !== n.protoMin ? `-${n.protoMax}` : '');
  if (n.flags & 1) parts.push(range ? `src=${range}` : 'src');
  else if (n.flags & 2) parts.push(range ? `dst=${range}` : 'dst');
  if (n.flags & 4) parts.push('persistent');
  if (n.flags & 8) parts.push('hash');
  if (n.flags & 16) parts.push('random');
  return parts.length ? `nat(${parts.join(',')})` : 'nat';
}

export function formatAction(a: Action): string {
  switch (a.type) {
    case 'output':
      return formatOutput(a.port, a.maxLen);
    case 'group':
      return `group:${a.groupId}`;
    case 'set_field': {
      const v = formatValue(a.field, a.value, a.mask);
      return `set_field:${v}->${setFieldName(a.field)}`;
    }
    case 'push_vlan':
      return `push_vlan:0x${a.ethertype.toString(16)}`;
    case 'pop_vlan':
      return 'pop_vlan';
    case 'push_mpls':
      return `push_mpls:0x${a.ethertype.toString(16).padStart(4, '0')}`;
    case 'pop_mpls':
      return `pop_mpls:0x${a.ethertype.toString(16).padStart(4, '0')}`;
    case 'push_pbb':
      return `push_pbb:0x${a.ethertype.toString(16)}`;
    case 'pop_pbb':
      return 'pop_pbb';
    case 'set_mpls_ttl':
      return `set_mpls_ttl(${a.ttl})`;
    case 'dec_mpls_ttl':
      return 'dec_mpls_ttl';
    case 'set_nw_ttl':
      return `mod_nw_ttl:${a.ttl}`;
    case 'dec_nw_ttl':
      return 'dec_ttl';
    case 'copy_ttl_out':
      return 'copy_ttl_out';
    case 'copy_ttl_in':
      return 'copy_ttl_in';
    case 'set_queue':
      return `set_queue:${a.queueId}`;
    case 'pop_queue':
      return 'pop_queue';
    case 'resubmit': {
      const port = a.port === undefined || a.port === 'in_port' ? '' : formatPort(a.port);
      if (a.table === undefined && !a.ct) return `resubmit:${port || 'IN_PORT'}`;
      return `resubmit(${port},${a.table === undefined || a.table === 255 ? '' : a.table}${a.ct ? ',ct' : ''})`;
    }
    case 'reg_move':
      return `move:${formatSubfield(a.src, a.srcOfs, a.nBits)}->${formatSubfield(a.dst, a.dstOfs, a.nBits)}`;
    case 'reg_load':
      return `load:${hex(a.value)}->${formatSubfield(a.dst, a.ofs, a.nBits)}`;
    case 'set_tunnel':
      return a.wide || a.tunId > 0xffffffffn ? `set_tunnel64:${hex(a.tunId)}` : `set_tunnel:${hex(a.tunId)}`;
    case 'note':
      return `note:${dotted(a.data)}`;
    case 'output_reg':
      return `output:${formatSubfield(a.src, a.ofs, a.nBits)}`;
    case 'learn': {
      const p: string[] = [`table=${a.tableId}`];
      if (a.idleTimeout) p.push(`idle_timeout=${a.idleTimeout}`);
      if (a.hardTimeout) p.push(`hard_timeout=${a.hardTimeout}`);
      if (a.finIdleTimeout) p.push(`fin_idle_timeout=${a.finIdleTimeout}`);
      if (a.finHardTimeout) p.push(`fin_hard_timeout=${a.finHardTimeout}`);
      if (a.priority !== 0x8000) p.push(`priority=${a.priority}`);
      if (a.flags & 1) p.push('send_flow_rem');
      if (a.flags & 2) p.push('delete_learned');
      if (a.cookie) p.push(`cookie=${hex(a.cookie)}`);
      for (const s of a.specs) {
        const src =
          'value' in s.src ? hex(BigInt(`0x${s.src.value.toString('hex') || '0'}`)) : formatSubfield(s.src.field, s.src.ofs, s.nBits);
        if (s.kind === 'output') p.push(`output:${src}`);
        else if (s.kind === 'load') p.push(`load:${src}->${formatSubfield(s.dst!.field, s.dst!.ofs, s.nBits)}`);
        else if ('value' in s.src) p.push(`${s.dst!.field}=${src}`);
        else {
          const dst = formatSubfield(s.dst!.field, s.dst!.ofs, s.nBits);
          p.push(dst === src ? dst : `${dst}=${src}`);
        }
      }
      return `learn(${p.join(',')})`;
    }
    case 'exit':
      return 'exit';
    case 'dec_ttl':
      return a.controllerIds ? `dec_ttl(${a.controllerIds.join(',')})` : 'dec_ttl';
    case 'fin_timeout': {
      const p: string[] = [];
      if (a.idleTimeout) p.push(`idle_timeout=${a.idleTimeout}`);
      if (a.hardTimeout) p.push(`hard_timeout=${a.hardTimeout}`);
      return `fin_timeout(${p.join(',')})`;
    }
    case 'controller': {
      const reason = a.reason ?? 1;
      const id = a.controllerId ?? 0;
      if (reason === 1 && id === 0 && !a.userdata && !a.pause) return `CONTROLLER:${a.maxLen}`;
      const p: string[] = [];
      if (reason !== 1) p.push(`reason=${REASONS[reason] ?? reason}`);
      if (a.maxLen !== 0xffff) p.push(`max_len=${a.maxLen}`);
      if (id !== 0) p.push(`id=${id}`);
      if (a.userdata) p.push(`userdata=${dotted(a.userdata)}`);
      if (a.pause) p.push('pause');
      return `controller(${p.join(',')})`;
    }
    case 'stack_push':
      return `push:${formatSubfield(a.field, a.ofs, a.nBits)}`;
    case 'stack_pop':
      return `pop:${formatSubfield(a.field, a.ofs, a.nBits)}`;
    case 'sample': {
      let s = `sample(probability=${a.probability},collector_set_id=${a.collectorSetId},obs_domain_id=${a.obsDomainId},obs_point_id=${a.obsPointId}`;
      if (a.samplingPort) s += `,sampling_port=${a.samplingPort}`;
      if (a.direction === 1) s += ',ingress';
      if (a.direction === 2) s += ',egress';
      return `${s})`;
    }
    case 'conjunction':
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    case 'ct': {
      const p: string[] = [];
      if (a.flags & 1) p.push('commit');
      if (a.flags & 2) p.push('force');
      if (a.recircTable !== 255) p.push(`table=${a.recircTable}`);
      if (a.zoneSrc) p.push(`zone=${formatSubfield(a.zoneSrc, a.zone >> 6, (a.zone & 0x3f) + 1)}`);
      else if (a.zone) p.push(`zone=${a.zone}`);
      if (a.alg) p.push(`alg=${a.alg === 21 ? 'ftp' : a.alg === 69 ? 'tftp' : a.alg}`);
      const nat = a.actions.filter((x) => x.type === 'nat');
      const rest = a.actions.filter((x) => x.type !== 'nat');
      for (const n of nat) p.push(formatNat(n as NatAction));
      if (rest.length) p.push(`exec(${rest.map(formatAction).join(',')})`);
      return p.length ? `ct(${p.join(',')})` : 'ct';
    }
    case 'nat':
      return formatNat(a);
    case 'output_trunc':
      return `output(port=${formatPort(a.port)},max_len=${a.maxLen})`;
    case 'ct_clear':
      return 'ct_clear';
    case 'unknown':
      return `unknown(${a.raw.toString('hex')})`;
  }
}

export function formatActions(actions: readonly Action[]): string {
  return actions.length ? actions.map(formatAction).join(',') : 'drop';
}

export function formatInstructions(list: readonly Instruction[]): string {
  const parts: string[] = [];
  for (const i of list) {
    switch (i.type) {
      case 'meter':
        parts.push(`meter:${i.meterId}`);
        break;
      case 'apply_actions':
        parts.push(...i.actions.map(formatAction));
        break;
      case 'clear_actions':
        parts.push('clear_actions');
        break;
      case 'write_actions':
        parts.push(`write_actions(${i.actions.map(formatAction).join(',')})`);
        break;
      case 'write_metadata':
        parts.push(`write_metadata:${hex(i.metadata)}` + (i.mask === 0xffffffffffffffffn ? '' : `/${hex(i.mask)}`));
        break;
      case 'goto_table':
        parts.push(`goto_table:${i.tableId}`);
        break;
      case 'unknown':
        parts.push(`unknown_instruction(${i.raw.toString('hex')})`);
        break;
    }
  }
  return parts.length ? parts.join(',') : 'drop';
}
