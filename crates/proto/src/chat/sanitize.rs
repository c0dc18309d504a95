use std::borrow::Cow;

/// Makes a line of client input safe to show on other people's terminals.
///
/// Invalid UTF-8 becomes U+FFFD. ANSI/VT escape sequences (CSI `ESC [ … final`,
/// OSC `ESC ] … BEL|ST`, DCS/SOS/PM/APC strings, two-byte `ESC x`, and their
/// C1 forms) are removed whole, so no colour, cursor movement, title change
/// or terminal query survives. Remaining C0 controls except TAB, DEL and C1
/// controls are removed.
pub fn sanitize(line: &[u8]) -> String {
    // Most chat lines have nothing to remove: check, then copy them whole
    // instead of decoding and re-encoding every char. Printable ASCII is the
    // cheapest check; past it, valid UTF-8 (say, Chinese) without controls.
    // A control byte (an escape, say) goes straight to the full treatment.
    match line
        .iter()
        .position(|&b| b != b'\t' && !(b' '..=b'~').contains(&b))
    {
        None => return String::from_utf8(line.to_vec()).expect("printable ASCII is UTF-8"),
        Some(i) if line[i] >= 0x80 => {
            if let Ok(text) = std::str::from_utf8(line) {
                // `i` is a char boundary: everything before it is ASCII.
                if text[i..].chars().all(is_shown) {
                    return text.to_owned();
                }
            }
        }
        Some(_) => {}
    }
    let text = String::from_utf8_lossy(line);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                _ => {} // two-byte escape (or a lone ESC at the end)
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_shown(c) => out.push(c),
            _ => {} // C0, DEL, C1
        }
    }
    out
}

/// Makes text that reached the chat through another front-end safe for a
/// terminal: [`sanitize`], after removing IRC colour codes (`^C` with its
/// `NN[,NN]` digits), which would otherwise leave stray digits. Text with
/// nothing to remove (all text typed by line clients, which was sanitized
/// on the way in) is borrowed, not copied.
pub fn sanitize_str(text: &str) -> Cow<'_, str> {
    // Printable ASCII (nearly every line) is checked byte by byte; only
    // text with other bytes is decoded.
    let plain_ascii = !(text.bytes()).fold(false, |odd, b| {
        odd | ((b < b' ') & (b != b'\t')) | (b > b'~') // no branch: vectorized
    });
    if plain_ascii || text.chars().all(is_shown) {
        return Cow::Borrowed(text);
    }
    let mut plain = Vec::with_capacity(text.len());
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b != IRC_COLOUR {
            plain.push(b);
            continue;
        }
        let digits = |bytes: &mut std::iter::Peekable<std::str::Bytes<'_>>| {
            let mut n = 0;
            while n < 2 && bytes.next_if(u8::is_ascii_digit).is_some() {
                n += 1;
            }
            n
        };
        if digits(&mut bytes) > 0 && bytes.peek() == Some(&b',') {
            let mut ahead = bytes.clone();
            ahead.next();
            if ahead.peek().is_some_and(u8::is_ascii_digit) {
                bytes.next();
                digits(&mut bytes);
            }
        }
    }
    Cow::Owned(sanitize(&plain))
}

/// IRC's colour code (`^C`).
const IRC_COLOUR: u8 = 0x03;

/// A char that passes through unchanged: TAB or anything but a control.
fn is_shown(c: char) -> bool {
    c == '\t' || !c.is_control()
}

/// Skips a control sequence's parameters and intermediates up to and
/// including its final byte (0x40..=0x7E).
fn skip_csi(chars: &mut impl Iterator<Item = char>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// Skips a string-type sequence up to its terminator: BEL, ST (`ESC \`) or
/// the C1 ST (U+009C).
fn skip_string(chars: &mut std::iter::Peekable<impl Iterator<Item = char>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_and_tabs_pass() {
        assert_eq!(
            sanitize(b"hello\tworld, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93"),
            "hello\tworld, été ✓"
        );
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        assert_eq!(sanitize(b"\x1b[31mred\x1b[0m"), "red");
        assert_eq!(sanitize(b"a\x1b[2J\x1b[Hb"), "ab"); // clear screen, home
        assert_eq!(sanitize(b"\x1b]0;pwned title\x07x"), "x"); // OSC title, BEL
        assert_eq!(
            sanitize(b"\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        ); // OSC 8, ST
        assert_eq!(sanitize(b"\x1bPq#0;2;0;0;0\x1b\\ok"), "ok"); // DCS sixel
        assert_eq!(sanitize(b"\x1bcreset"), "reset"); // RIS: ESC c
        assert_eq!(sanitize("\u{9b}31mc1".as_bytes()), "c1"); // C1 CSI
        assert_eq!(sanitize(b"end\x1b"), "end");
    }

    #[test]
    fn controls_are_removed() {
        assert_eq!(
            sanitize(b"bell\x07 back\x08space del\x7f nul\x00 cr\r"),
            "bell backspace del nul cr"
        );
        assert_eq!(sanitize("c1\u{85}\u{8d}x".as_bytes()), "c1x");
    }

    #[test]
    fn text_from_irc_loses_its_formatting() {
        assert!(matches!(
            sanitize_str("plain été"),
            Cow::Borrowed("plain été")
        ));
        assert_eq!(
            sanitize_str("\x02bold\x02 \x0304red\x03 \x0312,05on\x0f 3\x03,4 \x1dit\x1d"),
            "bold red on 3,4 it"
        );
        assert_eq!(sanitize_str("\x0399 bottles"), " bottles");
        assert_eq!(sanitize_str("\x01ACTION x\x01 \x1b[31m"), "ACTION x ");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(sanitize(b"bad \xff\xfe end"), "bad \u{fffd}\u{fffd} end");
    }

    proptest! {
        /// Whatever comes in, nothing that a terminal acts on goes out.
        #[test]
        fn output_never_holds_controls(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let out = sanitize(&input);
            prop_assert!(out.chars().all(is_shown), "{:?}", out);
        }

        /// Text without controls (the fast paths) comes out unchanged.
        #[test]
        fn text_without_controls_is_unchanged(input in "[ -~\t]{0,300}|[^\\p{Cc}]{0,100}") {
            prop_assert_eq!(sanitize(input.as_bytes()), input);
        }
    }
}
