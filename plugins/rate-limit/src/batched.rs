//! The cluster policy's batched mode (`sync_rate` > 0): decisions stay on
//! the node; one worker of the node (holding a lease in shared data) sends
//! every pending increment to Redis on a timer and stores the totals.
//!
//! Shared data, per node:
//! - `rlb:<table>:<slot>` — a client's counters: fingerprint, the client
//!   key (Redis keys are built from it) and a [`PendingEntry`] per limit.
//!   Slots are bounded exactly as the local policy's.
//! - `rlb:dirty:<0..16>` — which slots have increments not yet sent. A slot
//!   is marked when its first unsent increment arrives, so a key is marked
//!   at most once per sync interval; capped, and counted when full.
//! - `rlb:lease` — which worker syncs (see [`Lease`]).
//!
//! A decision sees `synced_total + in_flight + pending` per limit: the
//! cluster total at the last sync plus this node's increments since, so
//! the overshoot across N nodes is bounded by what N nodes admit in one
//! interval (`shared::cluster::bound`). Increments of a window that has
//! ended are dropped: they can no longer change any decision.

use crate::cluster::{self, note_health};
use crate::host::{self, CreateCas};
use crate::local::Outcome;
use crate::root::Ready;
use proxy_wasm::types::Status;
use shared::cluster::{
    counter_key, counter_ttl_ms, eval, evalsha, Endpoint, Lease, PendingEntry, SyncCall, SyncItem,
    SyncReply, MAX_KEYS_PER_CALL,
};
use shared::ratelimit::{apply, key_hash, probe_slots, Counter, Record, Rule, PROBES};
use std::collections::HashMap;
use std::fmt::Write;

const DIRTY_SHARDS: u32 = 16;
/// Entries per dirty shard: 16 × 4096 slots marked per interval at most.
const DIRTY_CAP: usize = 4096;
const LEASE_KEY: &str = "rlb:lease";
const MAX_ATTEMPTS: u32 = 64;

/// A client's counters in batched mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    fingerprint: u64,
    key: Vec<u8>,
    entries: Vec<PendingEntry>,
}

impl Slot {
    fn decode(bytes: &[u8], n: usize) -> Option<Slot> {
        let fingerprint = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let klen = usize::from(u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?));
        let key = bytes.get(10..10 + klen)?.to_vec();
        let rest = bytes.get(10 + klen..)?;
        if rest.len() != n * PendingEntry::ENCODED_LEN || fingerprint == 0 {
            return None;
        }
        let entries = rest
            .chunks_exact(PendingEntry::ENCODED_LEN)
            .map(PendingEntry::decode)
            .collect::<Option<Vec<_>>>()?;
        Some(Slot {
            fingerprint,
            key,
            entries,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        let klen = self.key.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(klen as u16).to_le_bytes());
        out.extend_from_slice(self.key.get(..klen).unwrap_or_default());
        let mut e = Vec::with_capacity(PendingEntry::ENCODED_LEN);
        for entry in &self.entries {
            entry.encode(&mut e);
            out.extend_from_slice(&e);
        }
    }

    /// No window of the slot can matter any more and nothing is owed to
    /// Redis for a live window.
    fn is_dead(&self, rule: &Rule, now_ms: u64) -> bool {
        rule.limits()
            .iter()
            .zip(&self.entries)
            .all(|(limit, e)| now_ms >= limit.window.next_start_ms(e.window_start_ms))
    }
}

fn slot_name(table: u32, slot: u32) -> String {
    let mut s = String::with_capacity(24);
    let _ = write!(s, "rlb:{table}:{slot}");
    s
}

fn get_slot(name: &str, n: usize) -> Result<(Option<Slot>, Option<u32>), Status> {
    Ok(match host::shared_get(name)? {
        Some((v, cas)) => (Slot::decode(&v, n), Some(cas)),
        None => (None, None),
    })
}

/// Counts one request against the node's view of the cluster counts.
pub fn count(ready: &Ready, table: u32, rule: &Rule, key: &[u8], now_ms: u64) -> Outcome {
    let fingerprint = key_hash(ready.seed, key);
    let probes = probe_slots(fingerprint, ready.config.local_slots());
    let limits = rule.limits();
    let mut buf = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let mut chosen: Option<(u32, Option<Slot>, Option<u32>)> = None;
        let mut free: Option<(u32, Option<u32>)> = None;
        for &slot in probes.as_slice().iter().take(PROBES) {
            let (current, cas) = match get_slot(&slot_name(table, slot), limits.len()) {
                Ok(v) => v,
                Err(s) => return Outcome::StoreFailed(s),
            };
            match current {
                Some(s) if s.fingerprint == fingerprint => {
                    chosen = Some((slot, Some(s), cas));
                    break;
                }
                Some(s) if !s.is_dead(rule, now_ms) => {}
                _ => {
                    if free.is_none() {
                        free = Some((slot, cas));
                    }
                }
            }
        }
        let (slot, current, cas) = match (chosen, free) {
            (Some(c), _) => c,
            (None, Some((slot, cas))) => (slot, None, cas),
            (None, None) => return Outcome::TableFull,
        };
        let mut entries: Vec<PendingEntry> = limits
            .iter()
            .enumerate()
            .map(|(i, limit)| {
                let start = limit.window.start_ms(now_ms);
                match current.as_ref().and_then(|s| s.entries.get(i)) {
                    Some(e) if e.window_start_ms == start => *e,
                    _ => PendingEntry::new(start),
                }
            })
            .collect();
        // The decision on the node's view, with the local policy's rules.
        let mut record = Record::new(1, limits.len());
        for (c, e) in record.counters_mut().iter_mut().zip(&entries) {
            *c = Counter {
                window_start_ms: e.window_start_ms,
                count: e.estimate(),
                previous_count: 0,
            };
        }
        let (decision, next) = apply(Some(&record), 1, now_ms, limits, rule.window_type(), 1);
        if next.is_none() {
            return Outcome::Decided(decision);
        }
        let mut newly_dirty = false;
        for e in &mut entries {
            newly_dirty |= e.pending == 0;
            e.record_local(1);
        }
        let s = Slot {
            fingerprint,
            key: key.to_vec(),
            entries,
        };
        s.encode(&mut buf);
        let write_cas = cas.unwrap_or(ready.create.value());
        match host::shared_set(&slot_name(table, slot), &buf, write_cas) {
            Ok(()) => {
                if newly_dirty {
                    mark_dirty(ready, table, slot);
                }
                return Outcome::Decided(decision);
            }
            Err(Status::CasMismatch) => continue,
            Err(st) => return Outcome::StoreFailed(st),
        }
    }
    Outcome::StoreFailed(Status::CasMismatch)
}

fn dirty_name(shard: u32) -> String {
    format!("rlb:dirty:{shard}")
}

/// Adds a slot to the list the syncing worker reads.
pub fn mark_dirty(ready: &Ready, table: u32, slot: u32) {
    let name = dirty_name(slot % DIRTY_SHARDS);
    for _ in 0..MAX_ATTEMPTS {
        let (mut list, cas) = match host::shared_get(&name) {
            Ok(Some((v, cas))) => (v, Some(cas)),
            Ok(None) => (Vec::new(), None),
            Err(_) => return,
        };
        if list.len() / 8 >= DIRTY_CAP {
            ready.metrics.sync_backlog_full();
            return;
        }
        list.extend_from_slice(&table.to_le_bytes());
        list.extend_from_slice(&slot.to_le_bytes());
        match host::shared_set(&name, &list, cas.unwrap_or(ready.create.value())) {
            Ok(()) => return,
            Err(Status::CasMismatch) => continue,
            Err(_) => return,
        }
    }
}

/// Takes every marked slot off the dirty lists.
fn take_dirty(create: CreateCas) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for shard in 0..DIRTY_SHARDS {
        let name = dirty_name(shard);
        for _ in 0..MAX_ATTEMPTS {
            let Ok(Some((list, cas))) = host::shared_get(&name) else {
                break;
            };
            if list.is_empty() {
                break;
            }
            match host::shared_set(&name, &[], if cas == 0 { create.value() } else { cas }) {
                Ok(()) => {
                    for pair in list.chunks_exact(8) {
                        let t = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]);
                        let s = u32::from_le_bytes([pair[4], pair[5], pair[6], pair[7]]);
                        if !out.contains(&(t, s)) {
                            out.push((t, s));
                        }
                    }
                    break;
                }
                Err(Status::CasMismatch) => continue,
                Err(_) => break,
            }
        }
    }
    out
}

/// One entry of one slot in a call.
#[derive(Debug, Clone, Copy)]
struct Target {
    table: u32,
    slot: u32,
    fingerprint: u64,
    limit: usize,
}

/// A sync call in flight.
struct Call {
    batch_id: u64,
    items: Vec<SyncItem>,
    targets: Vec<Target>,
    sent_eval: bool,
}

/// The syncing side, per worker: its lease identity and calls in flight.
pub struct Syncer {
    me: u64,
    next_batch: u64,
    calls: HashMap<u32, Call>,
}

impl Syncer {
    pub fn new(me: u64) -> Syncer {
        Syncer {
            me,
            // Batch ids: this worker's random identity and a sequence.
            next_batch: me.rotate_left(32) | 1,
            calls: HashMap::new(),
        }
    }

    fn batch_id(&mut self) -> u64 {
        self.next_batch = self.next_batch.wrapping_add(1).max(1);
        self.next_batch
    }

    /// The timer: if this worker holds (or takes) the lease and has no
    /// call in flight, send everything marked.
    pub fn tick(&mut self, ready: &Ready, interval_ms: u64) {
        log::debug!("rate-limit: tick, {} call(s) in flight", self.calls.len());
        if !self.calls.is_empty() {
            return;
        }
        let now = host::now_ms();
        let (current, cas) = match host::shared_get(LEASE_KEY) {
            Ok(Some((v, cas))) => (Lease::decode(&v), Some(cas)),
            Ok(None) => (None, None),
            Err(_) => return,
        };
        if !Lease::may_take(current.as_ref(), self.me, now) {
            return;
        }
        let lease = Lease::taken(self.me, now, interval_ms.saturating_mul(3).max(1000));
        if host::shared_set(
            LEASE_KEY,
            &lease.encode(),
            cas.unwrap_or(ready.create.value()),
        )
        .is_err()
        {
            return;
        }
        self.send_dirty(ready, now);
    }

    fn send_dirty(&mut self, ready: &Ready, now_ms: u64) {
        let shared::ratelimit::Policy::Cluster { proxy, .. } = ready.config.policy() else {
            return;
        };
        let dirty = take_dirty(ready.create);
        log::debug!("rate-limit: sync: {} slot(s) to send", dirty.len());
        // Retries go out under their old batch id; new increments under a
        // fresh id per call of at most MAX_KEYS_PER_CALL counters.
        let mut groups: HashMap<u64, (Vec<SyncItem>, Vec<Target>)> = HashMap::new();
        let mut fresh_id = self.batch_id();
        let mut fresh_count = 0usize;
        let mut buf = Vec::new();
        for (table, slot) in dirty {
            let rule_index = table.wrapping_sub(ready.table);
            let Some(rule) = crate::stream::rule_of(&ready.config, rule_index) else {
                continue;
            };
            if fresh_count + rule.limits().len() > MAX_KEYS_PER_CALL {
                fresh_id = self.batch_id();
                fresh_count = 0;
            }
            let name = slot_name(table, slot);
            for _ in 0..MAX_ATTEMPTS {
                let Ok((Some(mut s), Some(cas))) = get_slot(&name, rule.limits().len()) else {
                    break;
                };
                let mut staged: Vec<(u64, SyncItem, Target)> = Vec::new();
                for (i, (limit, e)) in rule.limits().iter().zip(s.entries.iter_mut()).enumerate() {
                    if !e.has_unsynced() || now_ms >= limit.window.next_start_ms(e.window_start_ms)
                    {
                        continue;
                    }
                    let send = e.begin_sync(fresh_id);
                    staged.push((
                        send.batch_id,
                        SyncItem {
                            key: counter_key(
                                &proxy.key_prefix,
                                rule_index,
                                limit.window,
                                e.window_start_ms,
                                &s.key,
                            ),
                            increment: send.increment,
                            ttl_ms: counter_ttl_ms(
                                limit.window,
                                rule.window_type(),
                                e.window_start_ms,
                            ),
                        },
                        Target {
                            table,
                            slot,
                            fingerprint: s.fingerprint,
                            limit: i,
                        },
                    ));
                }
                s.encode(&mut buf);
                match host::shared_set(&name, &buf, cas) {
                    Ok(()) => {
                        for (id, item, target) in staged {
                            if id == fresh_id {
                                fresh_count += 1;
                            }
                            let g = groups.entry(id).or_default();
                            g.0.push(item);
                            g.1.push(target);
                        }
                        break;
                    }
                    Err(Status::CasMismatch) => continue,
                    Err(_) => break,
                }
            }
        }
        for (batch_id, (items, targets)) in groups {
            let call = Call {
                batch_id,
                items,
                targets,
                sent_eval: false,
            };
            self.dispatch(ready, call);
        }
    }

    fn dispatch(&mut self, ready: &Ready, call: Call) {
        let shared::ratelimit::Policy::Cluster { proxy, .. } = ready.config.policy() else {
            return;
        };
        let endpoint = Endpoint::of(proxy);
        let sc = SyncCall {
            key_prefix: &proxy.key_prefix,
            batch_id: call.batch_id,
            items: &call.items,
        };
        let built = if call.sent_eval {
            eval(&endpoint, &sc)
        } else {
            evalsha(&endpoint, &sc)
        };
        let sent = built
            .map_err(|_| Status::BadArgument)
            .and_then(|c| cluster::send(proxy, &c));
        match sent {
            Ok(token) => {
                self.calls.insert(token, call);
            }
            Err(s) => {
                ready.metrics.sync_failure();
                note_health(
                    false,
                    &format!("dispatch to `{}` refused: {s:?}", proxy.upstream),
                );
                settle(ready, &call, None, true);
            }
        }
    }

    /// A sync call's answer.
    pub fn on_response(&mut self, ready: &Ready, token: u32, body_size: usize) {
        let Some(mut call) = self.calls.remove(&token) else {
            return;
        };
        let reply = cluster::read_reply(body_size, call.items.len());
        match reply {
            SyncReply::Totals(totals) => {
                note_health(true, "");
                settle(ready, &call, Some(&totals), false);
            }
            SyncReply::NoScript if !call.sent_eval => {
                call.sent_eval = true;
                self.dispatch(ready, call);
            }
            other => {
                ready.metrics.sync_failure();
                note_health(false, &format!("{other:?}"));
                settle(ready, &call, None, other.proves_not_applied());
            }
        }
    }
}

/// Writes a call's outcome into its slots: totals acknowledged, or the
/// increments kept for the next sync (re-sent as the same batch when the
/// outcome is unknown). Slots that still owe Redis are marked again.
fn settle(ready: &Ready, call: &Call, totals: Option<&[u64]>, not_applied: bool) {
    let mut buf = Vec::new();
    for (i, t) in call.targets.iter().enumerate() {
        let rule_index = t.table.wrapping_sub(ready.table);
        let Some(rule) = crate::stream::rule_of(&ready.config, rule_index) else {
            continue;
        };
        let name = slot_name(t.table, t.slot);
        for _ in 0..MAX_ATTEMPTS {
            let Ok((Some(mut s), Some(cas))) = get_slot(&name, rule.limits().len()) else {
                break;
            };
            if s.fingerprint != t.fingerprint {
                break;
            }
            let Some(e) = s.entries.get_mut(t.limit) else {
                break;
            };
            match totals.and_then(|ts| ts.get(i)) {
                Some(total) => {
                    e.ack(call.batch_id, *total);
                }
                None if not_applied => e.not_applied(call.batch_id),
                None => e.fail(call.batch_id),
            }
            let owes = e.has_unsynced();
            s.encode(&mut buf);
            match host::shared_set(&name, &buf, cas) {
                Ok(()) => {
                    if owes {
                        mark_dirty(ready, t.table, t.slot);
                    }
                    break;
                }
                Err(Status::CasMismatch) => continue,
                Err(_) => break,
            }
        }
    }
}
