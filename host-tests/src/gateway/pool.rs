//! The worker threads: each owns one [`Worker`] (its VMs) and takes requests
//! from one queue shared by all, as nginx workers share a listening socket.
//! Between requests a worker delivers callout responses and fires due ticks,
//! as a host's event loop does.

use super::router::Matched;
use super::upstream::{self, Client};
use crate::error::HostError;
use crate::node::Worker;
use crate::stream::{Exchange, Request};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long an idle worker waits for a request before it looks at events
/// and ticks again.
const IDLE_POLL: Duration = Duration::from_millis(10);

/// One request for a worker, and where its answer goes.
pub struct Job {
    pub matched: Matched,
    pub request: Request,
    pub client: Client,
    pub reply: tokio::sync::oneshot::Sender<Result<Exchange, HostError>>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// The queue all workers take requests from.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

enum Next {
    Job(Box<Job>),
    Idle,
    Closed,
}

impl Queue {
    /// Hands a request to the next free worker; gives it back if the queue
    /// is closed.
    pub fn push(&self, job: Job) -> Result<(), Box<Job>> {
        let Ok(mut st) = self.state.lock() else {
            return Err(Box::new(job));
        };
        if st.closed {
            return Err(Box::new(job));
        }
        st.jobs.push_back(job);
        drop(st);
        self.ready.notify_one();
        Ok(())
    }

    /// No new requests: workers finish what is queued, then stop.
    pub fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
        }
        self.ready.notify_all();
    }

    fn next(&self, wait: Duration) -> Next {
        let Ok(mut st) = self.state.lock() else {
            return Next::Closed;
        };
        if st.jobs.is_empty() && !st.closed {
            st = match self.ready.wait_timeout(st, wait) {
                Ok((g, _)) => g,
                Err(_) => return Next::Closed,
            };
        }
        match st.jobs.pop_front() {
            Some(j) => Next::Job(Box::new(j)),
            None if st.closed => Next::Closed,
            None => Next::Idle,
        }
    }
}

/// A worker thread's life: requests through the chain, events and ticks in
/// between, until the queue closes and is empty.
pub fn work(worker: &mut Worker, queue: &Queue, runtime: &tokio::runtime::Handle) {
    loop {
        match queue.next(IDLE_POLL) {
            Next::Job(job) => {
                let Job {
                    matched,
                    request,
                    client,
                    reply,
                } = *job;
                let chain = matched.route.chain.clone();
                let result = worker.run(&chain, request, |up| {
                    upstream::call(runtime, &matched, &client, up)
                });
                // The client may have gone: nothing to answer then.
                let _ = reply.send(result);
            }
            Next::Idle => {}
            Next::Closed => break,
        }
        if let Err(e) = worker.process_events(None) {
            eprintln!("wasm-gateway: worker {}: {e}", worker.id);
        }
        if let Err(e) = worker.fire_due_ticks() {
            eprintln!("wasm-gateway: worker {}: {e}", worker.id);
        }
    }
}
