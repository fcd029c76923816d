#!/usr/bin/env bash
# Reproducer: Open vSwitch 3.1.0's userspace conntrack (Debian 12, datapath_type=netdev) aborts under a loop
# of short TCP connections when the ct actions use NAT, and survives the same loop without NAT.
#
#   bench/repro/ovs-ct-nat-crash.sh plain [SECONDS]   ct(table=1,zone=1) / ct(commit,zone=1)            -> alive
#   bench/repro/ovs-ct-nat-crash.sh nat   [SECONDS]   ct(table=1,zone=1,nat) / ct(commit,zone=1,nat(src)) -> dies:
#     util|EMER|../lib/conntrack.c:1063: assertion conn->conn_type == CT_CONN_TYPE_DEFAULT failed in conn_update_state()
#
# Seen 2026-12-05 (plain: ~7,500 conn/s for 5 s, alive; nat: dies within a second). OVN's logical-switch
# flows use ct(…,nat) as soon as a switch has a stateful ACL, which is why bench:sg runs OVN's conn/s only with
# OVN_CONN=1; wyvern's ACL flows must not use nat for the same reason. One OVS in a namespace, two VM
# namespaces on br0; run as root under `flock /tmp/wyvern-heavy.lock`. Cleans up everything it made.
set -u
SRV=
MODE=${1:?plain|nat}; P=ctx$$; D=$(mktemp -d /tmp/ctnat.XXXX); mkdir -p $D
H=$P-h; A=$P-a; B=$P-b
cleanup() { [ -n "${SRV:-}" ] && kill $SRV 2>/dev/null; for f in $D/vswitchd.pid $D/ovsdb.pid; do [ -f $f ] && kill $(cat $f) 2>/dev/null; done; sleep 0.5; for n in $H $A $B; do ip netns del $n 2>/dev/null; done; rm -rf $D; }
trap cleanup EXIT
for n in $H $A $B; do ip netns add $n; ip -n $n link set lo up; done
ovsdb-tool create $D/conf.db /usr/share/openvswitch/vswitch.ovsschema
ip netns exec $H ovsdb-server --remote=punix:$D/db.sock --pidfile=$D/ovsdb.pid --detach --log-file=$D/ovsdb.log --unixctl=$D/ovsdb.ctl $D/conf.db
ovs-vsctl --db=unix:$D/db.sock --no-wait init
ip netns exec $H env OVS_RUNDIR=$D ovs-vswitchd unix:$D/db.sock --pidfile=$D/vswitchd.pid --detach --log-file=$D/vswitchd.log --unixctl=$D/vswitchd.ctl
V="ovs-vsctl --db=unix:$D/db.sock"
$V add-br br0 -- set bridge br0 datapath_type=netdev fail_mode=secure
i=1; for n in $A $B; do
  ip -n $H link add v$i type veth peer name eth0 netns $n; ip -n $n addr add 10.9.0.$i/24 dev eth0; ip -n $n link set eth0 up; ip -n $H link set v$i up
  ip netns exec $n ethtool -K eth0 tx off >/dev/null; $V add-port br0 v$i; i=$((i+1)); done
if [ $MODE = nat ]; then C='ct(commit,zone=1,nat(src))'; T='ct(table=1,zone=1,nat)'; else C='ct(commit,zone=1)'; T='ct(table=1,zone=1)'; fi
cat > $D/flows <<F
table=0,priority=10,arp,actions=NORMAL
table=0,priority=10,ip,actions=$T
table=1,priority=10,ct_state=+trk+new,ip,actions=$C,NORMAL
table=1,priority=10,ct_state=+trk+est,ip,actions=NORMAL
table=1,priority=5,ct_state=+trk+rel,ip,actions=NORMAL
F
ovs-ofctl -O OpenFlow13 add-flows unix:$D/br0.mgmt $D/flows
ip netns exec $B node -e "require('net').createServer(s=>{s.on('error',()=>{});s.end()}).listen(5202)" & SRV=$!
sleep 0.5
ip netns exec $A node -e "
const net=require('net');let done=0,failed=0,live=4;const end=Date.now()+${2:-5}000;
function one(){if(Date.now()>=end){if(--live===0)console.log('conn/s',done/${2:-5},'failed',failed);return;}
const s=net.connect({host:'10.9.0.2',port:5202});s.setTimeout(2000,()=>s.destroy(new Error('t')));
s.on('error',()=>{failed++;s.destroy();setImmediate(one)});s.on('end',()=>{s.destroy();done++;one()});s.resume();}
for(let i=0;i<4;i++)one();"
kill $SRV
kill -0 $(cat $D/vswitchd.pid) 2>/dev/null && echo "$MODE: vswitchd alive" || { echo "$MODE: vswitchd DIED"; grep EMER $D/vswitchd.log; }
