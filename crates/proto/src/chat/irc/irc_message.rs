//! IRC messages on the wire: `[@tags] [:source] COMMAND params... [:trailing]`
//! (RFC 1459/2812 as the Modern IRC documents describe it, with IRCv3
//! message tags). Hand-written: the crates that parse IRC (`irc-proto`,
//! `irc-rust`) allocate per message, pull in tokio codecs, or are
//! unmaintained; this is a few dozen lines over borrowed slices, checked
//! against the ircdocs parser test vectors (tests/irc_parser_vectors.rs)
//! and fuzzed (fuzz/fuzz_targets/irc_message.rs).

use std::borrow::Cow;

use thiserror::Error;

/// Most parameters a message may have (RFC 2812).
pub const MAX_PARAMS: usize = 15;

/// Why a line is not an IRC message.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but tags, a source or spaces: no command.
    #[error("no command")]
    NoCommand,
}

/// One parsed message, borrowing from its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrcMessage<'a> {
    /// The tags, without the leading `@`, still escaped ("" if none).
    pub tags: &'a str,
    /// The source (prefix), without its `:`.
    pub source: Option<&'a str>,
    /// The command or numeric, as sent (any case).
    pub command: &'a str,
    params: [&'a str; MAX_PARAMS],
    count: usize,
}

impl<'a> IrcMessage<'a> {
    /// Parses one line (without its CR LF). Runs of spaces separate atoms,
    /// as RFC 1459 has it; a 15th parameter takes the rest of the line.
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        let mut rest = line;
        let mut tags = "";
        if let Some(after) = rest.strip_prefix('@') {
            let (t, r) = after.split_once(' ').unwrap_or((after, ""));
            tags = t;
            rest = r;
        }
        rest = rest.trim_start_matches(' ');
        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (s, r) = after.split_once(' ').unwrap_or((after, ""));
            source = Some(s);
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        let mut message = IrcMessage {
            tags,
            source,
            command,
            params: [""; MAX_PARAMS],
            count: 0,
        };
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                message.push(trailing);
                break;
            }
            if message.count == MAX_PARAMS - 1 {
                message.push(rest);
                break;
            }
            let (param, r) = rest.split_once(' ').unwrap_or((rest, ""));
            message.push(param);
            rest = r;
        }
        Ok(message)
    }

    fn push(&mut self, param: &'a str) {
        self.params[self.count] = param;
        self.count += 1;
    }

    /// The parameters, the trailing one last (without its `:`).
    pub fn params(&self) -> &[&'a str] {
        &self.params[..self.count]
    }

    /// Parameter `i`, if present.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params().get(i).copied()
    }

    /// The tags as `(key, unescaped value)`; a tag without `=` has an empty
    /// value. A key given twice yields both; the last one counts. A tag
    /// without a key (`=value`, or nothing between two `;`) is skipped: it
    /// names nothing, and written out again it could not be told from no
    /// tag at all.
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> {
        self.tags.split(';').filter_map(|tag| {
            let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
            (!key.is_empty()).then(|| (key, unescape_tag_value(value)))
        })
    }

    /// The client-only tags (`+name[=value]`), still escaped, joined by `;`
    /// as they came: what a server relays to clients that take tags.
    pub fn client_tags(&self) -> Cow<'a, str> {
        if !self.tags.split(';').any(|t| t.starts_with('+')) {
            return Cow::Borrowed("");
        }
        if self.tags.split(';').all(|t| t.starts_with('+')) {
            return Cow::Borrowed(self.tags);
        }
        let kept: Vec<&str> = self
            .tags
            .split(';')
            .filter(|t| t.starts_with('+'))
            .collect();
        Cow::Owned(kept.join(";"))
    }
}

/// Undoes tag-value escaping: `\:` `;`, `\s` space, `\\` `\`, `\r` CR,
/// `\n` LF; a backslash before anything else is dropped, as is a trailing
/// one.
pub fn unescape_tag_value(value: &str) -> Cow<'_, str> {
    if !value.contains('\\') {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Escapes a tag value for the wire (the inverse of
/// [`unescape_tag_value`]).
pub fn escape_tag_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes a message (without CR LF): tags (`value` `None` for a tag
/// without one), source, command and parameters; the last parameter gets
/// a `:` when it needs one (empty, holding a space, or starting with `:`).
pub fn write_message(
    tags: &[(&str, Option<&str>)],
    source: Option<&str>,
    command: &str,
    params: &[&str],
) -> String {
    let mut out = String::new();
    for (i, (key, value)) in tags.iter().enumerate() {
        out.push(if i == 0 { '@' } else { ';' });
        out.push_str(key);
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.push('=');
            escape_tag_value(value, &mut out);
        }
    }
    if !tags.is_empty() {
        out.push(' ');
    }
    if let Some(source) = source {
        out.push(':');
        out.push_str(source);
        out.push(' ');
    }
    out.push_str(command);
    for (i, param) in params.iter().enumerate() {
        out.push(' ');
        let last = i + 1 == params.len();
        if last && (param.is_empty() || param.contains(' ') || param.starts_with(':')) {
            out.push(':');
        }
        out.push_str(param);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_of_a_full_message() {
        let m = IrcMessage::parse("@a=b\\sc;+d :nick!u@h PRIVMSG  #chan   :hello there").unwrap();
        assert_eq!(m.source, Some("nick!u@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params(), ["#chan", "hello there"]);
        let tags: Vec<(&str, String)> = m.tags().map(|(k, v)| (k, v.into_owned())).collect();
        assert_eq!(tags, [("a", "b c".to_string()), ("+d", String::new())]);
        assert_eq!(m.client_tags(), "+d");
    }

    #[test]
    fn tags_without_a_key_are_skipped() {
        let m = IrcMessage::parse("@=;a=1;;=x;b X").unwrap();
        let tags: Vec<(&str, String)> = m.tags().map(|(k, v)| (k, v.into_owned())).collect();
        assert_eq!(tags, [("a", "1".to_string()), ("b", String::new())]);
    }

    #[test]
    fn trailing_forms_and_limits() {
        assert_eq!(IrcMessage::parse("CMD a :").unwrap().params(), ["a", ""]);
        assert_eq!(
            IrcMessage::parse("CMD a ::b").unwrap().params(),
            ["a", ":b"]
        );
        assert_eq!(IrcMessage::parse("CMD a b  ").unwrap().params(), ["a", "b"]);
        let many = IrcMessage::parse("C 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16").unwrap();
        assert_eq!(many.params().len(), MAX_PARAMS);
        assert_eq!(many.param(14), Some("15 16"));
        assert_eq!(IrcMessage::parse(""), Err(ParseError::NoCommand));
        assert_eq!(IrcMessage::parse("@tags :src"), Err(ParseError::NoCommand));
    }

    #[test]
    fn tag_values_round_trip() {
        let mut escaped = String::new();
        escape_tag_value("a; b\\c\r\n", &mut escaped);
        assert_eq!(escaped, "a\\:\\sb\\\\c\\r\\n");
        assert_eq!(unescape_tag_value(&escaped), "a; b\\c\r\n");
        assert_eq!(unescape_tag_value("x\\"), "x");
        assert_eq!(unescape_tag_value("\\b"), "b");
    }

    #[test]
    fn writing_adds_a_colon_only_where_needed() {
        assert_eq!(
            write_message(
                &[("time", Some("now"))],
                Some("s"),
                "PRIVMSG",
                &["#c", "hi you"]
            ),
            "@time=now :s PRIVMSG #c :hi you"
        );
        assert_eq!(write_message(&[], None, "JOIN", &["#c"]), "JOIN #c");
        assert_eq!(write_message(&[], None, "X", &[":a"]), "X ::a");
    }
}
