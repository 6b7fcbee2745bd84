//! `Subscriber`: the native half of `nestdb.PubSub` (redis-py's `PubSub`), a `nestdb::Subscriber`
//! behind a mutex. Waiting for a message releases the GIL; so does taking the mutex, so a
//! thread blocked in `get` never stalls another thread's `subscribe`. Channel names are bytes
//! here; decoding (`decode_responses`) is the Python class's.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use nestdb::Message;

use crate::locks::lock;

#[pyclass(frozen, module = "nestdb._nestdb", name = "Subscriber")]
pub(crate) struct Subscriber {
    inner: Mutex<Option<nestdb::Subscriber>>,
}

impl Subscriber {
    pub(crate) fn new(sub: nestdb::Subscriber) -> Subscriber {
        Subscriber { inner: Mutex::new(Some(sub)) }
    }

    /// Run `f` on the live subscriber (the mutex taken without the GIL).
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut nestdb::Subscriber) -> R + Send) -> PyResult<R> {
        py.detach(|| lock(&self.inner).as_mut().map(f)).ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("the subscriber is closed"))
    }
}

/// Channel or pattern names.
type Names = Vec<Vec<u8>>;

/// A message as `(type, pattern, channel, data)`, redis-py's message dict fields.
type Row<'py> = (&'static str, Option<Bound<'py, PyBytes>>, Option<Bound<'py, PyBytes>>, Bound<'py, PyAny>);

fn row(py: Python<'_>, m: Message) -> PyResult<Row<'_>> {
    let b = |v: &[u8]| PyBytes::new(py, v);
    let n = |c: usize| c.into_pyobject(py).map(|v| v.into_any());
    Ok(match m {
        Message::Subscribe { channel, count } => ("subscribe", None, Some(b(&channel)), n(count)?),
        Message::Unsubscribe { channel, count } => ("unsubscribe", None, channel.as_deref().map(b), n(count)?),
        Message::PSubscribe { pattern, count } => ("psubscribe", None, Some(b(&pattern)), n(count)?),
        Message::PUnsubscribe { pattern, count } => ("punsubscribe", None, pattern.as_deref().map(b), n(count)?),
        Message::Message { channel, payload } => ("message", None, Some(b(&channel)), b(&payload).into_any()),
        Message::PMessage { pattern, channel, payload } => ("pmessage", Some(b(&pattern)), Some(b(&channel)), b(&payload).into_any()),
    })
}

#[pymethods]
impl Subscriber {
    fn subscribe(&self, py: Python<'_>, channels: Vec<Vec<u8>>) -> PyResult<()> {
        self.with(py, |s| s.subscribe(&channels))
    }

    fn unsubscribe(&self, py: Python<'_>, channels: Vec<Vec<u8>>) -> PyResult<()> {
        self.with(py, |s| s.unsubscribe(&channels))
    }

    fn psubscribe(&self, py: Python<'_>, patterns: Vec<Vec<u8>>) -> PyResult<()> {
        self.with(py, |s| s.psubscribe(&patterns))
    }

    fn punsubscribe(&self, py: Python<'_>, patterns: Vec<Vec<u8>>) -> PyResult<()> {
        self.with(py, |s| s.punsubscribe(&patterns))
    }

    /// Channel and pattern subscriptions.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| s.count())
    }

    /// (channels, patterns) subscribed to.
    fn subscriptions(&self, py: Python<'_>) -> PyResult<(Names, Names)> {
        self.with(py, |s| (s.channels().map(<[u8]>::to_vec).collect(), s.patterns().map(<[u8]>::to_vec).collect()))
    }

    /// The next message as `(type, pattern, channel, data)`, waiting up to `timeout` seconds
    /// (`None`: until one arrives; 0: only what is queued), or None.
    #[pyo3(signature = (timeout=None))]
    fn get<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Row<'py>>> {
        let wait = match timeout {
            None => None,
            Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t.min(1e9))),
            Some(_) => Some(Duration::ZERO),
        };
        let got = self.with(py, |s| if wait == Some(Duration::ZERO) { s.try_recv() } else { s.recv_timeout(wait) })?;
        got.map(|m| row(py, m)).transpose()
    }

    /// Unsubscribe from everything and drop the queue (idempotent).
    fn close(&self, py: Python<'_>) {
        py.detach(|| drop(lock(&self.inner).take()));
    }

    #[getter]
    fn closed(&self) -> bool {
        lock(&self.inner).is_none()
    }
}
