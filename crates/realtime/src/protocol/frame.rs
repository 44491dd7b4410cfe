//! A server frame as every receiver shares it: the text, serialised once (cloning a frame is a
//! reference count, and no receiver copies it until its socket's buffer), and the same frame
//! in the other dialect this process speaks (Socket.IO), made by the first receiver that
//! speaks it and shared by the rest.
//!
//! Keeping the translation with the frame, not in a table beside it, means a room's event is
//! translated once however many sockets it reaches and however far behind they read: a table
//! keyed by frames in flight has to forget some once a backlog outgrows it, and at saturation
//! every frame it forgets was translated again for each socket still to read it.
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

#[derive(Clone)]
pub struct Frame(Arc<Inner>);

struct Inner {
    text: String,
    other: OnceLock<Option<Frame>>,
}

impl Frame {
    pub fn from_static(text: &'static str) -> Self {
        Self::from(text)
    }

    /// This frame in the process's other dialect: `render` runs once per frame, on the first
    /// call; every later call, from any connection, gets what it made.
    pub(crate) fn in_other_dialect(
        &self,
        render: impl FnOnce(&str) -> Option<Frame>,
    ) -> Option<Frame> {
        self.0.other.get_or_init(|| render(&self.0.text)).clone()
    }

    /// The same frame, not an equal one (the same shared text).
    #[cfg(test)]
    pub(crate) fn same(&self, other: &Frame) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self(Arc::new(Inner {
            text,
            other: OnceLock::new(),
        }))
    }
}

impl From<&str> for Frame {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl Deref for Frame {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.text
    }
}

impl AsRef<str> for Frame {
    fn as_ref(&self) -> &str {
        self
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Frame {}

impl PartialEq<str> for Frame {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Frame {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn the_other_dialect_is_rendered_once_for_every_clone() {
        let frame = Frame::from(r#"{"type":"typing"}"#);
        let renders = AtomicUsize::new(0);
        let render = |text: &str| {
            renders.fetch_add(1, Ordering::SeqCst);
            Some(Frame::from(format!("42{text}")))
        };
        let first = frame.in_other_dialect(render).unwrap();
        let clone = frame.clone();
        let again = std::thread::scope(|s| {
            s.spawn(|| clone.in_other_dialect(render))
                .join()
                .unwrap()
                .unwrap()
        });
        assert_eq!(first, r#"42{"type":"typing"}"#);
        assert!(first.same(&again), "shared, not rendered again");
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        // An equal frame made apart is another frame: rendered for itself.
        let twin = Frame::from(r#"{"type":"typing"}"#);
        assert_eq!(twin, frame);
        assert!(!twin.same(&frame));
        assert_eq!(twin.in_other_dialect(render).unwrap(), first);
        assert_eq!(renders.load(Ordering::SeqCst), 2);
        // Nothing to say is remembered too.
        let reply = Frame::from(r#"{"type":"synced"}"#);
        assert_eq!(reply.in_other_dialect(|_| None), None);
        assert_eq!(reply.in_other_dialect(render), None);
        assert_eq!(renders.load(Ordering::SeqCst), 2);
    }
}
