//! Exit reasons: why a process ended, carried by exit signals and `Down` messages.
//!
//! Cloning a [`Reason`] is O(1) and, for the usual reasons, touches no shared
//! memory: the fixed ones are plain values, and text from a string literal is
//! kept as a `&'static str`. Only text made at run time sits behind an `Arc`.
//! This matters because an exit fans out: a process with a million links clones
//! its reason once per link, and each receiver clones and drops it again, from
//! every core; a shared reference count would bounce between them.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Why a process ended (Erlang's exit reason).
///
/// `Normal` is the reason of a body that returned `Ok`. `Kill` is the reason a
/// process gives itself to be untrappable only when sent by `exit(pid, Kill)`;
/// its victim then dies with `Killed`. See `docs/semantics.md`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Ended normally: linked processes that do not trap exits are unaffected.
    Normal,
    /// `kill`: sent by `exit(pid, Kill)` it cannot be trapped.
    Kill,
    /// The reason of a process killed by `exit(pid, Kill)`.
    Killed,
    /// An orderly shutdown (Erlang's `shutdown`).
    Shutdown,
    /// The process did not exist (or had ended) when a link or monitor reached it.
    NoProc,
    /// The process panicked; the panic message is kept.
    Panic(Text),
    /// Any other reason, named by the user (`Reason::error("some_reason")`).
    Error(Text),
}

impl Reason {
    /// A user reason with the given text: `Reason::error("boom")` (a literal is
    /// kept as it is; a `String` goes behind an `Arc`).
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// assert_eq!(Reason::error("boom").to_string(), "boom");
    /// assert_eq!(Reason::error(format!("code {}", 7)), Reason::error("code 7"));
    /// // Not the special reason of that name: it prints quoted.
    /// assert_eq!(Reason::error("normal").to_string(), "\"normal\"");
    ///
    /// let runtime = Runtime::new()?;
    /// let reason = runtime.block_on(|cx| {
    ///     cx.spawn_monitor(|_| Err(Reason::error("boom")))?;
    ///     Ok::<_, Reason>(cx.receive::<Down>()?.reason)
    /// })?;
    /// assert_eq!(reason, Reason::error("boom"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error(text: impl Into<Text>) -> Reason {
        Reason::Error(text.into())
    }

    /// A user reason that keeps `error`: its text is the error's `Display`,
    /// and the error stays reachable ([`Reason::as_error`], and
    /// [`Error::source`](std::error::Error::source) gives its chain), also
    /// in the `Exit` or `Down` a linked or monitoring process gets. `?` on an
    /// `io::Error`, a boxed error, an `anyhow::Error` (feature `anyhow`) or one
    /// of this crate's errors makes one of these.
    ///
    /// ```
    /// # use std::io;
    /// # use lariat::{Down, Reason, Runtime};
    /// let reason = Reason::from_error(io::Error::new(io::ErrorKind::NotFound, "config.toml is missing"));
    /// assert_eq!(reason.to_string(), "config.toml is missing");
    /// // Equal by text to a plain error reason.
    /// assert_eq!(reason, Reason::error("config.toml is missing"));
    ///
    /// // `?` on an `io::Error` in a body makes one: the monitor's `Down` keeps it.
    /// let runtime = Runtime::new()?;
    /// let reason = runtime.block_on(|cx| {
    ///     cx.spawn_monitor(|_| {
    ///         std::fs::read("/surely/not/here")?;
    ///         Ok(())
    ///     })?;
    ///     Ok::<_, Reason>(cx.receive::<Down>()?.reason)
    /// })?;
    /// let io = reason.as_error().and_then(|error| error.downcast_ref::<io::Error>());
    /// assert_eq!(io.map(io::Error::kind), Some(io::ErrorKind::NotFound));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Reason {
        let error = error.into();
        let text = error.to_string();
        Reason::from_error_as(text, error)
    }

    /// [`Reason::from_error`] with a text of the runtime's choosing (a
    /// registry error reads as Erlang's `badarg` and still keeps the error).
    pub(crate) fn from_error_as(text: String, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Reason {
        let text = text.into_boxed_str();
        Reason::Error(Text(TextRepr::Source(Arc::new(SourceError { text, error: error.into() }))))
    }

    /// The error this reason was made from ([`Reason::from_error`]), to
    /// downcast (`reason.as_error()?.downcast_ref::<std::io::Error>()`).
    ///
    /// ```
    /// # use std::num::ParseIntError;
    /// # use lariat::Reason;
    /// let parsed: Result<u32, ParseIntError> = "x".parse();
    /// let reason = Reason::from_error(parsed.unwrap_err());
    /// assert!(reason.as_error().is_some_and(|error| error.is::<ParseIntError>()));
    /// // A reason made from text alone keeps no error.
    /// assert!(Reason::error("invalid digit found in string").as_error().is_none());
    /// assert!(Reason::Killed.as_error().is_none());
    /// ```
    pub fn as_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Reason::Error(Text(TextRepr::Source(source))) => Some(&*source.error),
            _ => None,
        }
    }

    /// Whether this is `Normal`.
    ///
    /// ```
    /// # use lariat::Reason;
    /// assert!(Reason::Normal.is_normal());
    /// assert!(!Reason::Shutdown.is_normal());
    /// assert!(!Reason::error("normal").is_normal(), "a text is never the special reason");
    /// ```
    pub fn is_normal(&self) -> bool {
        matches!(self, Reason::Normal)
    }
}

/// An error kept by a reason, with its text made once.
struct SourceError {
    text: Box<str>,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl From<std::io::Error> for Reason {
    fn from(error: std::io::Error) -> Reason {
        Reason::from_error(error)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for Reason {
    fn from(error: Box<dyn std::error::Error + Send + Sync>) -> Reason {
        Reason::from_error(error)
    }
}

impl From<std::fmt::Error> for Reason {
    fn from(error: std::fmt::Error) -> Reason {
        Reason::from_error(error)
    }
}

#[cfg(feature = "anyhow")]
impl From<anyhow::Error> for Reason {
    fn from(error: anyhow::Error) -> Reason {
        Reason::from_error(error)
    }
}

/// The text of a reason: a string literal, or text made at run time, shared.
/// Dereferences to `str`; compares by content.
#[derive(Clone)]
pub struct Text(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Static(&'static str),
    Shared(Arc<str>),
    /// The `Display` of an error that is kept too (`Reason::from_error`).
    Source(Arc<SourceError>),
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            TextRepr::Static(text) => text,
            TextRepr::Shared(text) => text,
            TextRepr::Source(source) => &source.text,
        }
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Text {
        Text(TextRepr::Static(text))
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(TextRepr::Shared(text.into()))
    }
}

impl From<Arc<str>> for Text {
    fn from(text: Arc<str>) -> Text {
        Text(TextRepr::Shared(text))
    }
}

impl From<Box<str>> for Text {
    fn from(text: Box<str>) -> Text {
        Text(TextRepr::Shared(text.into()))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Normal => f.write_str("normal"),
            Reason::Kill => f.write_str("kill"),
            Reason::Killed => f.write_str("killed"),
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::NoProc => f.write_str("noproc"),
            Reason::Panic(message) => write!(f, "panic: {message}"),
            // A text that reads like a special reason, or like a panic, is
            // quoted: `Reason::error("normal")` is not `normal` (it kills a
            // linked process) and must not print as if it were.
            Reason::Error(text) if looks_special(text) => write!(f, "{:?}", &**text),
            Reason::Error(text) => f.write_str(text),
        }
    }
}

/// Whether a custom reason's text could be read as a special reason.
fn looks_special(text: &str) -> bool {
    matches!(text, "normal" | "kill" | "killed" | "shutdown" | "noproc")
        || text.starts_with("panic: ")
        || text.starts_with('"')
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Panic(message) => write!(f, "Panic({message:?})"),
            Reason::Error(text) => write!(f, "Error({text:?})"),
            other => fmt::Display::fmt(other, f),
        }
    }
}

/// A reason made from an error is that error's stand-in: it shows the error's
/// text (a registry error's with Erlang's `badarg: ` before it), and its source is the error's own source (so a report that walks
/// the chain does not print the same text twice). [`Reason::as_error`] gives
/// the error itself.
impl std::error::Error for Reason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.as_error().and_then(|error| error.source())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_their_text_and_literals_are_not_counted() {
        let made = Reason::error(format!("some_{}", "reason"));
        let copy = made.clone();
        match (&made, &copy) {
            (Reason::Error(Text(TextRepr::Shared(a))), Reason::Error(Text(TextRepr::Shared(b)))) => {
                assert!(Arc::ptr_eq(a, b))
            }
            _ => unreachable!("text made at run time is shared"),
        }
        assert!(matches!(Reason::error("boom"), Reason::Error(Text(TextRepr::Static("boom")))));
        assert_eq!(made, Reason::error("some_reason"), "equal by content, however kept");
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not load the config")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_reason_made_from_an_error_keeps_it_and_its_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "config.toml is missing");
        let reason = Reason::from_error(Outer(io));
        assert_eq!(reason.to_string(), "could not load the config");
        assert!(reason.as_error().and_then(|error| error.downcast_ref::<Outer>()).is_some());
        let cause = std::error::Error::source(&reason).expect("the chain goes on");
        assert_eq!(cause.to_string(), "config.toml is missing");
        let copy = reason.clone();
        assert_eq!(copy, Reason::error("could not load the config"), "equal by text");
        assert!(copy.as_error().is_some(), "a clone keeps the error");
    }

    #[test]
    fn question_mark_turns_an_io_error_into_a_reason() {
        fn open() -> Result<(), Reason> {
            std::fs::read("/surely/not/here")?;
            Ok(())
        }
        let reason = open().unwrap_err();
        let io = reason.as_error().and_then(|error| error.downcast_ref::<std::io::Error>()).expect("kept");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn displays_like_erlang_atoms() {
        assert_eq!(Reason::Normal.to_string(), "normal");
        assert_eq!(Reason::Killed.to_string(), "killed");
        assert_eq!(Reason::error("boom").to_string(), "boom");
        assert_eq!(Reason::Panic("oops".into()).to_string(), "panic: oops");
    }
}
