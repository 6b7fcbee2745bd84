//! In-process publish/subscribe: PUBLISH, PUBSUB CHANNELS/NUMSUB/NUMPAT and `Subscriber`
//! (`Db::subscriber`), with Redis's message semantics between the threads of one process.
//!
//! A `Subscriber` is what a Redis connection in subscribed mode is: it holds channels and
//! glob patterns (Redis's `PSUBSCRIBE` language, `util::glob`) and receives, in order, the
//! confirmations of its own (un)subscriptions (with its subscription count, as Redis pushes
//! them) and every message published to a matching channel after it subscribed: a `message`
//! per channel subscription, plus a `pmessage` per matching pattern. Delivery is through an
//! unbounded queue per subscriber, so PUBLISH never blocks on a slow reader (Redis buffers in
//! the client output buffer the same way, and disconnects it past a limit; here a reader that
//! never reads grows its queue).
//!
//! Pub/sub is not data: messages are neither logged nor kept in snapshots, and a message
//! published while nobody subscribes is dropped (PUBLISH returns 0), as in Redis.
//!
//! Invariant: `Hub::channels[c]` holds the ids of exactly the live subscribers subscribed to
//! `c` (no empty vectors), `Hub::patterns` likewise; a subscriber removes itself on drop.

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::sync::Mutex;
use crate::util::glob::glob_match;

/// What a subscriber receives, in Redis's push-message kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `subscribe` confirmation: the channel and the subscriber's subscription count after it.
    Subscribe { channel: Vec<u8>, count: usize },
    /// `unsubscribe` confirmation (channel `None` when there was nothing to unsubscribe from).
    Unsubscribe { channel: Option<Vec<u8>>, count: usize },
    /// `psubscribe` confirmation.
    PSubscribe { pattern: Vec<u8>, count: usize },
    /// `punsubscribe` confirmation.
    PUnsubscribe { pattern: Option<Vec<u8>>, count: usize },
    /// A message published to a subscribed channel.
    Message { channel: Vec<u8>, payload: Vec<u8> },
    /// A message published to a channel matching a subscribed pattern.
    PMessage { pattern: Vec<u8>, channel: Vec<u8>, payload: Vec<u8> },
}

/// The registry of one database's subscriptions.
#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    next_id: u64,
    /// Subscriber id -> its queue.
    queues: HashMap<u64, Sender<Message>>,
    channels: HashMap<Vec<u8>, Vec<u64>>,
    patterns: Vec<(Vec<u8>, u64)>,
}

impl Hub {
    /// PUBLISH: deliver to every subscription that matches; the number of deliveries.
    pub(crate) fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let st = self.state.lock();
        let mut n = 0;
        if let Some(ids) = st.channels.get(channel) {
            for id in ids {
                if let Some(q) = st.queues.get(id) {
                    n += usize::from(q.send(Message::Message { channel: channel.to_vec(), payload: payload.to_vec() }).is_ok());
                }
            }
        }
        for (pattern, id) in &st.patterns {
            if matches(pattern, channel) {
                if let Some(q) = st.queues.get(id) {
                    let m = Message::PMessage { pattern: pattern.clone(), channel: channel.to_vec(), payload: payload.to_vec() };
                    n += usize::from(q.send(m).is_ok());
                }
            }
        }
        n
    }

    /// PUBSUB CHANNELS [pattern]: the channels with at least one subscriber.
    pub(crate) fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let st = self.state.lock();
        let mut out: Vec<Vec<u8>> = st.channels.keys().filter(|c| pattern.is_none_or(|p| matches(p, c))).cloned().collect();
        out.sort();
        out
    }

    /// PUBSUB NUMSUB: subscribers of `channel` (pattern subscriptions not counted, as Redis).
    pub(crate) fn numsub(&self, channel: &[u8]) -> usize {
        self.state.lock().channels.get(channel).map_or(0, Vec::len)
    }

    /// PUBSUB NUMPAT: pattern subscriptions across all subscribers.
    pub(crate) fn numpat(&self) -> usize {
        self.state.lock().patterns.len()
    }
}

/// Redis matches a lone `*` against everything, the empty channel included.
fn matches(pattern: &[u8], channel: &[u8]) -> bool {
    pattern == b"*" || glob_match(pattern, channel)
}

/// One subscriber: a set of channels and patterns and the queue of what they receive.
/// Dropping it unsubscribes from everything. `Send`, so a reader thread can own it.
pub struct Subscriber {
    hub: Arc<Hub>,
    id: u64,
    queue: Receiver<Message>,
    /// Our own end of the queue, for the confirmations.
    me: Sender<Message>,
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
}

impl Subscriber {
    pub(crate) fn new(hub: Arc<Hub>) -> Subscriber {
        let (me, queue) = channel();
        let id = {
            let mut st = hub.state.lock();
            st.next_id += 1;
            let id = st.next_id;
            st.queues.insert(id, me.clone());
            id
        };
        Subscriber { hub, id, queue, me, channels: BTreeSet::new(), patterns: BTreeSet::new() }
    }

    /// Channel plus pattern subscriptions (what Redis reports in confirmations).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// The channels subscribed to.
    pub fn channels(&self) -> impl Iterator<Item = &[u8]> {
        self.channels.iter().map(Vec::as_slice)
    }

    /// The patterns subscribed to.
    pub fn patterns(&self) -> impl Iterator<Item = &[u8]> {
        self.patterns.iter().map(Vec::as_slice)
    }

    /// SUBSCRIBE: one confirmation per channel (also for a channel already subscribed).
    pub fn subscribe<C: AsRef<[u8]>>(&mut self, channels: &[C]) {
        for c in channels {
            let c = c.as_ref();
            if self.channels.insert(c.to_vec()) {
                self.hub.state.lock().channels.entry(c.to_vec()).or_default().push(self.id);
            }
            self.confirm(Message::Subscribe { channel: c.to_vec(), count: self.count() });
        }
    }

    /// UNSUBSCRIBE: the given channels, or all of them when `channels` is empty.
    pub fn unsubscribe<C: AsRef<[u8]>>(&mut self, channels: &[C]) {
        let targets: Vec<Vec<u8>> = if channels.is_empty() {
            self.channels.iter().cloned().collect()
        } else {
            channels.iter().map(|c| c.as_ref().to_vec()).collect()
        };
        if targets.is_empty() {
            self.confirm(Message::Unsubscribe { channel: None, count: self.count() });
        }
        for c in targets {
            if self.channels.remove(&c) {
                let mut st = self.hub.state.lock();
                if let Some(ids) = st.channels.get_mut(&c) {
                    ids.retain(|&i| i != self.id);
                    if ids.is_empty() {
                        st.channels.remove(&c);
                    }
                }
            }
            self.confirm(Message::Unsubscribe { channel: Some(c), count: self.count() });
        }
    }

    /// PSUBSCRIBE.
    pub fn psubscribe<P: AsRef<[u8]>>(&mut self, patterns: &[P]) {
        for p in patterns {
            let p = p.as_ref();
            if self.patterns.insert(p.to_vec()) {
                self.hub.state.lock().patterns.push((p.to_vec(), self.id));
            }
            self.confirm(Message::PSubscribe { pattern: p.to_vec(), count: self.count() });
        }
    }

    /// PUNSUBSCRIBE: the given patterns, or all of them when `patterns` is empty.
    pub fn punsubscribe<P: AsRef<[u8]>>(&mut self, patterns: &[P]) {
        let targets: Vec<Vec<u8>> = if patterns.is_empty() {
            self.patterns.iter().cloned().collect()
        } else {
            patterns.iter().map(|p| p.as_ref().to_vec()).collect()
        };
        if targets.is_empty() {
            self.confirm(Message::PUnsubscribe { pattern: None, count: self.count() });
        }
        for p in targets {
            if self.patterns.remove(&p) {
                self.hub.state.lock().patterns.retain(|(q, i)| !(*i == self.id && *q == p));
            }
            self.confirm(Message::PUnsubscribe { pattern: Some(p), count: self.count() });
        }
    }

    fn confirm(&self, m: Message) {
        // Our own receiver is alive while `self` is.
        let _ = self.me.send(m);
    }

    /// The next message, if one is queued.
    pub fn try_recv(&self) -> Option<Message> {
        self.queue.try_recv().ok()
    }

    /// The next message, waiting up to `timeout` (`None`: until one arrives).
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Option<Message> {
        match timeout {
            None => self.queue.recv().ok(),
            Some(t) => self.queue.recv_timeout(t).ok(),
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mut st = self.hub.state.lock();
        st.queues.remove(&self.id);
        for c in &self.channels {
            if let Some(ids) = st.channels.get_mut(c) {
                ids.retain(|&i| i != self.id);
                if ids.is_empty() {
                    st.channels.remove(c);
                }
            }
        }
        st.patterns.retain(|(_, i)| *i != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::Message;
    use crate::{Db, Reply};

    fn msg(c: &str, p: &str) -> Message {
        Message::Message { channel: c.into(), payload: p.into() }
    }

    #[test]
    fn publish_reaches_channel_and_pattern_subscribers_in_order() {
        let db = Db::open_in_memory();
        let mut a = db.subscriber();
        let mut b = db.subscriber();
        a.subscribe(&["news", "sport"]);
        b.psubscribe(&["n*"]);
        assert_eq!(a.try_recv(), Some(Message::Subscribe { channel: b"news".to_vec(), count: 1 }));
        assert_eq!(a.try_recv(), Some(Message::Subscribe { channel: b"sport".to_vec(), count: 2 }));
        assert_eq!(b.try_recv(), Some(Message::PSubscribe { pattern: b"n*".to_vec(), count: 1 }));
        assert_eq!(db.execute(&[b"PUBLISH", b"news", b"one"]), Reply::Int(2));
        assert_eq!(db.execute(&[b"PUBLISH", b"sport", b"two"]), Reply::Int(1));
        assert_eq!(db.execute(&[b"PUBLISH", b"weather", b"x"]), Reply::Int(0));
        assert_eq!(a.try_recv(), Some(msg("news", "one")));
        assert_eq!(a.try_recv(), Some(msg("sport", "two")));
        assert_eq!(a.try_recv(), None);
        assert_eq!(b.try_recv(), Some(Message::PMessage { pattern: b"n*".to_vec(), channel: b"news".to_vec(), payload: b"one".to_vec() }));
        assert_eq!(b.try_recv(), None);
        assert_eq!(
            db.execute(&[b"PUBSUB", b"CHANNELS"]),
            Reply::Array(vec![Reply::Bulk(b"news".to_vec()), Reply::Bulk(b"sport".to_vec())])
        );
        assert_eq!(db.execute(&[b"PUBSUB", b"CHANNELS", b"s*"]), Reply::Array(vec![Reply::Bulk(b"sport".to_vec())]));
        assert_eq!(
            db.execute(&[b"PUBSUB", b"NUMSUB", b"news", b"none"]),
            Reply::Array(vec![Reply::Bulk(b"news".to_vec()), Reply::Int(1), Reply::Bulk(b"none".to_vec()), Reply::Int(0)])
        );
        assert_eq!(db.execute(&[b"PUBSUB", b"NUMPAT"]), Reply::Int(1));
        a.unsubscribe::<&str>(&[]);
        assert_eq!(a.try_recv(), Some(Message::Unsubscribe { channel: Some(b"news".to_vec()), count: 1 }));
        assert_eq!(a.try_recv(), Some(Message::Unsubscribe { channel: Some(b"sport".to_vec()), count: 0 }));
        a.unsubscribe::<&str>(&[]);
        assert_eq!(a.try_recv(), Some(Message::Unsubscribe { channel: None, count: 0 }));
        assert_eq!(db.execute(&[b"PUBLISH", b"news", b"three"]), Reply::Int(1));
        drop(b);
        assert_eq!(db.execute(&[b"PUBLISH", b"news", b"four"]), Reply::Int(0));
        assert_eq!(db.execute(&[b"PUBSUB", b"NUMPAT"]), Reply::Int(0));
        assert_eq!(db.execute(&[b"PUBSUB", b"CHANNELS"]), Reply::Array(vec![]));
    }

    #[test]
    fn a_reader_thread_receives_what_others_publish() {
        let db = Db::open_in_memory();
        let mut sub = db.subscriber();
        sub.subscribe(&["room:1"]);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < 100 {
                match sub.recv_timeout(Some(std::time::Duration::from_secs(10))) {
                    Some(Message::Message { payload, .. }) => got.push(payload),
                    Some(_) => {}
                    None => break,
                }
            }
            got
        });
        for i in 0..100 {
            while db.execute(&[b"PUBLISH", b"room:1", i.to_string().as_bytes()]) == Reply::Int(0) {
                std::thread::yield_now();
            }
        }
        let got = reader.join().unwrap();
        assert_eq!(got, (0..100).map(|i: i32| i.to_string().into_bytes()).collect::<Vec<_>>());
    }
}
