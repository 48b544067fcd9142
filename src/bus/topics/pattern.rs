//! The topic grammar (NATS's): a topic is a dot-separated name of non-empty
//! segments; a pattern may also hold `*` (one segment) and, last, `>` (one
//! or more segments). Parsing, matching and checking topics, and the two
//! errors an invalid pattern or topic gets.

use std::error::Error;
use std::fmt;

/// A parsed pattern.
pub(super) struct Pattern {
    segments: Vec<Segment>,
}

enum Segment {
    Literal(Box<str>),
    /// `*`: exactly one segment.
    One,
    /// `>`: one or more remaining segments (last only).
    Rest,
}

impl Pattern {
    pub(super) fn parse(text: &str) -> Result<Self, PatternError> {
        let error = |reason| PatternError {
            pattern: text.into(),
            reason,
        };
        if text.is_empty() {
            return Err(error("empty pattern"));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (at, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => return Err(error("empty segment")),
                "*" => Segment::One,
                ">" if at + 1 == parts.len() => Segment::Rest,
                ">" => return Err(error("`>` must be the last segment")),
                _ if part.contains(['*', '>']) => {
                    return Err(error("a wildcard must be a whole segment"));
                }
                literal => Segment::Literal(literal.into()),
            });
        }
        Ok(Self { segments })
    }

    /// Whether `topic` (one that `check_topic` accepts) matches. It walks
    /// the topic's bytes without splitting them: a miss on the cache
    /// matches every pattern.
    pub(super) fn matches(&self, topic: &str) -> bool {
        // The segments not matched yet; `None` once all are.
        let mut rest = Some(topic.as_bytes());
        for segment in &self.segments {
            let Some(bytes) = rest else {
                return false; // the pattern is longer
            };
            let end = match segment {
                // One or more segments remain (none is empty).
                Segment::Rest => return true,
                Segment::One => bytes.iter().position(|b| *b == b'.'),
                Segment::Literal(literal) => {
                    let literal = literal.as_bytes();
                    match bytes.get(literal.len()) {
                        _ if !bytes.starts_with(literal) => return false,
                        None => None,
                        Some(b'.') => Some(literal.len()),
                        Some(_) => return false, // a longer segment
                    }
                }
            };
            rest = end.map(|end| &bytes[end + 1..]);
        }
        rest.is_none()
    }
}

/// Why `topic` is not a topic, if it is not (an empty segment is reported
/// before a wildcard). One pass over the bytes: a miss checks every topic
/// it emits on.
pub(super) fn check_topic(topic: &str) -> Result<(), TopicError> {
    let error = |reason| {
        Err(TopicError {
            topic: topic.into(),
            reason,
        })
    };
    if topic.is_empty() {
        return error("empty topic");
    }
    let (mut after_dot, mut wildcard) = (true, false);
    for byte in topic.bytes() {
        match byte {
            b'.' if after_dot => return error("empty segment"),
            b'*' | b'>' => wildcard = true,
            _ => {}
        }
        after_dot = byte == b'.';
    }
    if after_dot {
        return error("empty segment");
    }
    if wildcard {
        return error("wildcards belong in patterns, not in topics");
    }
    Ok(())
}

/// [`Topics::connect`](super::Topics::connect) was given a pattern it cannot parse.
///
/// # Examples
///
/// ```
/// # use sigwire::bus::Topics;
/// let topics = Topics::<u8>::new();
/// let err = topics.connect("a.>.b", |_: &str, _: &u8| {}).unwrap_err();
/// assert_eq!(err.pattern(), "a.>.b");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pattern: Box<str>,
    reason: &'static str,
}

impl PatternError {
    /// The pattern as given.
    ///
    /// # Examples
    ///
    /// See [`PatternError`].
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid topic pattern {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl Error for PatternError {}

/// [`Topics::emit`](super::Topics::emit) was given a topic that is not a plain dotted name.
///
/// # Examples
///
/// ```
/// # use sigwire::bus::Topics;
/// let topics = Topics::<u8>::new();
/// let err = topics.emit("a.*", &1).unwrap_err();
/// assert_eq!(err.topic(), "a.*");
/// assert_eq!(err.to_string(), "invalid topic \"a.*\": wildcards belong in patterns, not in topics");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    topic: Box<str>,
    reason: &'static str,
}

impl TopicError {
    /// The topic as given.
    ///
    /// # Examples
    ///
    /// See [`TopicError`].
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid topic {:?}: {}", self.topic, self.reason)
    }
}

impl Error for TopicError {}

#[cfg(all(test, not(loom)))]
mod test {
    use super::Pattern;

    fn matches(pattern: &str, topic: &str) -> bool {
        super::check_topic(topic).unwrap();
        Pattern::parse(pattern).unwrap().matches(topic)
    }

    #[test]
    fn the_nats_grammar() {
        for (pattern, topic, expected) in [
            ("a.b", "a.b", true),
            ("a.b", "a.c", false),
            ("a.b", "a.b.c", false),
            ("a.*", "a.b", true),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("*.b", "x.b", true),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c.d", true),
            ("a.>", "a", false),
            (">", "a", true),
            (">", "a.b", true),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.*.c.>", "a.x.c.d", true),
            ("a.*.c.>", "a.x.c", false),
        ] {
            assert_eq!(matches(pattern, topic), expected, "{pattern} vs {topic}");
        }
    }

    #[test]
    fn invalid_patterns() {
        for (pattern, reason) in [
            ("", "empty pattern"),
            ("a..b", "empty segment"),
            (".a", "empty segment"),
            ("a.", "empty segment"),
            ("a.>.b", "`>` must be the last segment"),
            ("a*", "a wildcard must be a whole segment"),
            ("a.b>", "a wildcard must be a whole segment"),
        ] {
            let Err(error) = Pattern::parse(pattern) else {
                panic!("{pattern:?} parsed");
            };
            assert_eq!(error.reason, reason, "{pattern:?}");
        }
    }
}
