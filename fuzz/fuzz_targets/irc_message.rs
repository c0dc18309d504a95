//! The IRC front-end's message parser and writer (`IrcMessage::parse`,
//! `write_message`, the tag-value escapes), fed arbitrary bytes: decoded as
//! lossy UTF-8, as `IrcConn` decodes a line, and split into lines at every CR
//! and LF, as the line codec frames them.
//!
//! Every line comes from an untrusted client, so this checks that:
//! - nothing panics;
//! - the head of the message matches a plain word split: tags are the first
//!   word when the line starts with `@`, the source the next word when it
//!   starts with `:`, the command the next word; the parser fails exactly
//!   when there is no such word;
//! - every atom borrows from the line, in order (no copies, nothing
//!   invented);
//! - at most 15 parameters; the command is non-empty and has no space; no
//!   parameter but the last holds a space, is empty or starts with `:`; the
//!   tags and source hold no space;
//! - `client_tags` yields only the `+` tags, in order;
//! - round trip: `write_message` of the parsed atoms (tags with their
//!   unescaped values, which it escapes again) gives a line with no CR or
//!   LF that parses back to the same atoms, and writing those again gives
//!   the same line. See `round_trip` for the one message it excludes;
//! - `unescape_tag_value(escape_tag_value(s)) == s` for any `s`.
//!
//! The round trip needs no exclusion for NUL, CR or LF: a line never holds
//! CR or LF (they end it), a tag value that unescapes to CR or LF is escaped
//! again by the writer, and neither the parser nor the writer gives NUL any
//! meaning, so NUL is carried like any other character (and is exercised).
#![no_main]

use std::borrow::Cow;
use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use switchboard_proto::chat::irc::{
    escape_tag_value, unescape_tag_value, write_message, IrcMessage,
};

/// Most parameters a message may have (RFC 2812).
const MAX_PARAMS: usize = 15;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split(['\r', '\n']) {
        check_line(line);
    }
    let mut escaped = String::new();
    escape_tag_value(&text, &mut escaped);
    assert_eq!(unescape_tag_value(&escaped), text, "escaped as {escaped:?}");
});

/// The atoms of a message, owned, tags as `(key, unescaped value)` in order.
#[derive(Debug, PartialEq, Eq)]
struct Atoms<'a> {
    tags: Vec<(&'a str, Cow<'a, str>)>,
    source: Option<&'a str>,
    command: &'a str,
    params: Vec<&'a str>,
}

impl<'a> Atoms<'a> {
    fn of(m: &IrcMessage<'a>) -> Self {
        Atoms {
            tags: m.tags().collect(),
            source: m.source,
            command: m.command,
            params: m.params().to_vec(),
        }
    }

    fn write(&self) -> String {
        let tags: Vec<(&str, Option<&str>)> =
            self.tags.iter().map(|(k, v)| (*k, Some(&**v))).collect();
        write_message(&tags, self.source, self.command, &self.params)
    }
}

/// Where `part` lies in `line`; panics unless it is a slice of it.
fn span(line: &str, part: &str, what: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
    assert!(
        start <= line.len() && part.len() <= line.len() - start,
        "{what} {part:?} is not a slice of the line"
    );
    start..start + part.len()
}

fn check_line(line: &str) {
    let parsed = IrcMessage::parse(line);

    // The head, by a plain split into words (runs of spaces separate them).
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let tags_word = if line.starts_with('@') {
        words.next()
    } else {
        None
    };
    let mut next = words.next();
    let source_word = next.filter(|w| w.starts_with(':'));
    if source_word.is_some() {
        next = words.next();
    }
    let Some(command_word) = next else {
        assert!(parsed.is_err(), "no command word, yet parsed: {parsed:?}");
        return;
    };
    let m = parsed.unwrap_or_else(|e| panic!("command {command_word:?}, yet {e}"));
    assert_eq!(m.tags, tags_word.map_or("", |w| &w[1..]), "tags");
    assert_eq!(m.source, source_word.map(|w| &w[1..]), "source");
    assert_eq!(m.command, command_word, "command");

    // The shape of the atoms.
    let params = m.params();
    assert!(params.len() <= MAX_PARAMS, "{} params", params.len());
    assert!(!m.command.is_empty() && !m.command.contains(' '));
    assert!(!m.tags.contains(' '));
    assert!(!m.source.is_some_and(|s| s.contains(' ')));
    if let Some((_, middle)) = params.split_last() {
        for p in middle {
            assert!(
                !p.is_empty() && !p.contains(' ') && !p.starts_with(':'),
                "middle param {p:?}"
            );
        }
    }

    // Every atom is a slice of the line, each after the one before.
    let mut at = 0;
    let mut after = |part: &str, what: &str| {
        let r = span(line, part, what);
        assert!(r.start >= at, "{what} {part:?} overlaps the atom before it");
        at = r.end;
    };
    if line.starts_with('@') {
        after(m.tags, "tags");
    }
    if let Some(source) = m.source {
        after(source, "source");
    }
    after(m.command, "command");
    for p in params {
        after(p, "param");
    }

    // Client-only tags: the `+` ones, in order.
    let plus: Vec<&str> = m.tags.split(';').filter(|t| t.starts_with('+')).collect();
    let client_tags = m.client_tags();
    let got: Vec<&str> = client_tags.split(';').filter(|t| !t.is_empty()).collect();
    assert_eq!(got, plus, "client_tags of {:?}", m.tags);

    round_trip(&m);
}

/// `write_message` of the atoms parses back to them, and is stable.
///
/// Excluded: a command that starts with `@` with neither tags nor a source
/// to write before it (from a line such as `@ @x`, whose tags are empty).
/// Written alone it would read as tags; no form of the line can say it, and
/// an IRC command is letters or three digits anyway. A command starting with
/// `:` needs no exclusion: it can only follow a source, which is written
/// before it.
fn round_trip(m: &IrcMessage<'_>) {
    let atoms = Atoms::of(m);
    if atoms.tags.is_empty() && atoms.source.is_none() && atoms.command.starts_with('@') {
        return;
    }
    let line = atoms.write();
    assert!(!line.contains(['\r', '\n']), "wrote a line break: {line:?}");
    let again = IrcMessage::parse(&line)
        .unwrap_or_else(|e| panic!("wrote {line:?} from {atoms:?}, which fails: {e}"));
    let again = Atoms::of(&again);
    assert_eq!(again, atoms, "wrote {line:?}");
    assert_eq!(again.write(), line, "writing is not stable");
}
