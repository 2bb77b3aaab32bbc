//! The node's shared key-value store and shared queues.
//!
//! One store per node (Envoy process, nginx's shm zone), shared by every
//! worker VM. CAS follows the profile's rule (see [`CasRule`]).

use crate::abi::Status;
use crate::profile::CasRule;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    cas: u32,
    /// For the Kong profile's LRU eviction when a capacity is set.
    last_used: u64,
}

/// Shared data with compare-and-swap.
#[derive(Debug)]
pub struct SharedData {
    rule: CasRule,
    /// Bytes of keys plus values the zone may hold (ngx_wasm_module's
    /// `shm_kv` size); `None` for Envoy, which never evicts.
    capacity: Option<usize>,
    inner: Mutex<SharedInner>,
}

#[derive(Debug, Default)]
struct SharedInner {
    map: HashMap<String, Entry>,
    next_cas: u32,
    used_bytes: usize,
    tick: u64,
    evictions: u64,
}

impl SharedData {
    pub fn new(rule: CasRule, capacity: Option<usize>) -> SharedData {
        SharedData {
            rule,
            capacity,
            inner: Mutex::new(SharedInner {
                next_cas: 1,
                ..SharedInner::default()
            }),
        }
    }

    /// `proxy_get_shared_data`: the value and its cas, or `NOT_FOUND`.
    pub fn get(&self, key: &str) -> Result<(Vec<u8>, u32), Status> {
        let mut inner = self.inner.lock().map_err(|_| Status::InternalFailure)?;
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(key) {
            Some(e) => {
                e.last_used = tick;
                Ok((e.value.clone(), e.cas))
            }
            None => Err(Status::NotFound),
        }
    }

    /// `proxy_set_shared_data` under the profile's CAS rule.
    pub fn set(&self, key: &str, value: &[u8], cas: u32) -> Status {
        let Ok(mut inner) = self.inner.lock() else {
            return Status::InternalFailure;
        };
        let current = inner.map.get(key).map(|e| e.cas);
        let allowed = match (self.rule, current) {
            (CasRule::ZeroIsUnconditional, None) => true,
            (CasRule::ZeroIsUnconditional, Some(c)) => cas == 0 || cas == c,
            (CasRule::MustEqualCurrent, None) => cas == 0,
            (CasRule::MustEqualCurrent, Some(c)) => cas == c,
        };
        if !allowed {
            return Status::CasMismatch;
        }
        let new_cas = inner.next_cas;
        // cas 0 means "no cas" on the wire: never hand it out.
        inner.next_cas = inner.next_cas.wrapping_add(1).max(1);
        inner.tick += 1;
        let tick = inner.tick;
        let old_size = inner
            .map
            .get(key)
            .map(|e| e.value.len() + key.len())
            .unwrap_or(0);
        inner.used_bytes = inner.used_bytes - old_size + value.len() + key.len();
        inner.map.insert(
            key.to_string(),
            Entry {
                value: value.to_vec(),
                cas: new_cas,
                last_used: tick,
            },
        );
        if let Some(cap) = self.capacity {
            while inner.used_bytes > cap && inner.map.len() > 1 {
                // Least recently used, never the key just written.
                let victim = inner
                    .map
                    .iter()
                    .filter(|(k, _)| k.as_str() != key)
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, e)| (k.clone(), e.value.len() + k.len()));
                match victim {
                    Some((k, size)) => {
                        inner.map.remove(&k);
                        inner.used_bytes -= size;
                        inner.evictions += 1;
                    }
                    None => break,
                }
            }
        }
        Status::Ok
    }

    /// Number of keys held: what tests check to prove memory stays bounded.
    pub fn key_count(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    /// Bytes of keys and values held.
    pub fn used_bytes(&self) -> usize {
        self.inner.lock().map(|i| i.used_bytes).unwrap_or(0)
    }

    pub fn evictions(&self) -> u64 {
        self.inner.lock().map(|i| i.evictions).unwrap_or(0)
    }

    /// Every key and value, sorted by key, for assertions.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = self
            .inner
            .lock()
            .map(|i| {
                i.map
                    .iter()
                    .map(|(k, e)| (k.clone(), e.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        all.sort();
        all
    }
}

/// Where a queue's `on_queue_ready` goes: the context that registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOwner {
    pub worker: u32,
    pub plugin: usize,
    pub context_id: u32,
}

#[derive(Debug)]
struct Queue {
    vm_id: String,
    name: String,
    items: VecDeque<Vec<u8>>,
    owner: QueueOwner,
}

/// Shared queues of the node, keyed by (vm_id, name).
#[derive(Debug, Default)]
pub struct SharedQueues {
    inner: Mutex<Vec<Queue>>,
}

/// Queue ids handed to plugins start here, so a zero or small garbage id is
/// never a valid queue.
const QUEUE_ID_BASE: u32 = 1000;

impl SharedQueues {
    /// Registers (or re-opens) a queue; the latest registrar gets the
    /// notifications, as in proxy-wasm-cpp-host.
    pub fn register(&self, vm_id: &str, name: &str, owner: QueueOwner) -> u32 {
        let Ok(mut qs) = self.inner.lock() else {
            return 0;
        };
        if let Some((i, q)) = qs
            .iter_mut()
            .enumerate()
            .find(|(_, q)| q.vm_id == vm_id && q.name == name)
        {
            q.owner = owner;
            return QUEUE_ID_BASE + i as u32;
        }
        qs.push(Queue {
            vm_id: vm_id.to_string(),
            name: name.to_string(),
            items: VecDeque::new(),
            owner,
        });
        QUEUE_ID_BASE + (qs.len() as u32 - 1)
    }

    pub fn resolve(&self, vm_id: &str, name: &str) -> Option<u32> {
        let qs = self.inner.lock().ok()?;
        qs.iter()
            .position(|q| q.vm_id == vm_id && q.name == name)
            .map(|i| QUEUE_ID_BASE + i as u32)
    }

    /// Adds an item; answers the owner to notify.
    pub fn enqueue(&self, id: u32, item: &[u8]) -> Result<QueueOwner, Status> {
        let mut qs = self.inner.lock().map_err(|_| Status::InternalFailure)?;
        let q = id
            .checked_sub(QUEUE_ID_BASE)
            .and_then(|i| qs.get_mut(i as usize))
            .ok_or(Status::NotFound)?;
        q.items.push_back(item.to_vec());
        Ok(q.owner)
    }

    pub fn dequeue(&self, id: u32) -> Result<Vec<u8>, Status> {
        let mut qs = self.inner.lock().map_err(|_| Status::InternalFailure)?;
        let q = id
            .checked_sub(QUEUE_ID_BASE)
            .and_then(|i| qs.get_mut(i as usize))
            .ok_or(Status::NotFound)?;
        q.items.pop_front().ok_or(Status::Empty)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn envoy_rule_treats_zero_cas_as_unconditional() {
        let s = SharedData::new(CasRule::ZeroIsUnconditional, None);
        assert_eq!(s.set("k", b"1", 0), Status::Ok);
        assert_eq!(s.set("k", b"2", 0), Status::Ok);
        let (_, cas) = s.get("k").unwrap();
        assert_eq!(s.set("k", b"3", cas + 7), Status::CasMismatch);
        assert_eq!(s.set("new", b"x", 12345), Status::Ok);
    }

    #[test]
    fn kong_rule_makes_zero_cas_create_only() {
        let s = SharedData::new(CasRule::MustEqualCurrent, None);
        assert_eq!(s.set("k", b"1", 0), Status::Ok);
        assert_eq!(s.set("k", b"2", 0), Status::CasMismatch);
        assert_eq!(s.set("new", b"x", 12345), Status::CasMismatch);
        let (v, cas) = s.get("k").unwrap();
        assert_eq!(v, b"1");
        assert_eq!(s.set("k", b"2", cas), Status::Ok);
    }

    #[test]
    fn capacity_evicts_least_recently_used_keys() {
        let s = SharedData::new(CasRule::MustEqualCurrent, Some(8));
        assert_eq!(s.set("a", b"111", 0), Status::Ok);
        assert_eq!(s.set("b", b"222", 0), Status::Ok);
        assert_eq!(s.set("c", b"333", 0), Status::Ok);
        assert!(s.get("a").is_err());
        assert_eq!(s.evictions(), 1);
    }
}
