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
