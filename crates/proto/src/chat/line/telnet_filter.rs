/// Removes telnet protocol bytes from a client's input, so that `telnet`
/// users can chat as well as `nc` users, and negotiation never reaches
/// anyone else.
///
/// Handles, across any split of the input: `IAC IAC` (a literal 0xFF byte),
/// `IAC WILL/WONT/DO/DONT option`, `IAC SB … IAC SE` subnegotiation, other
/// two-byte `IAC` commands, and `CR NUL`, which becomes `CR LF`: telnet
/// clients in character mode send it for the Enter key, so it must end a
/// line like `CR LF` does. We never negotiate: refusing nothing and
/// agreeing to nothing leaves a telnet client in its default line mode.
#[derive(Clone, Debug, Default)]
pub struct TelnetFilter {
    state: State,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    /// After a CR: a following NUL ends the line.
    Cr,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte is dropped.
    Option,
    /// Inside IAC SB … (up to IAC SE).
    Sub,
    /// After IAC inside a subnegotiation.
    SubIac,
}

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const DONT: u8 = 254;

impl TelnetFilter {
    /// Appends the data bytes of `input` to `out`, dropping protocol bytes.
    pub fn filter(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data | State::Cr, IAC) => State::Iac,
                (State::Cr, 0) => {
                    out.push(b'\n');
                    State::Data
                }
                (State::Data | State::Cr, b) => {
                    out.push(b);
                    if b == b'\r' {
                        State::Cr
                    } else {
                        State::Data
                    }
                }
                (State::Iac, IAC) => {
                    out.push(IAC);
                    State::Data
                }
                (State::Iac, SB) => State::Sub,
                (State::Iac, WILL..=DONT) => State::Option,
                (State::Iac, _) | (State::Option, _) => State::Data,
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => State::Sub,
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        TelnetFilter::default().filter(input, &mut out);
        out
    }

    #[test]
    fn plain_text_passes_untouched() {
        assert_eq!(run(b"hello\r\nworld\n"), b"hello\r\nworld\n");
    }

    #[test]
    fn negotiation_is_removed() {
        // What a Linux telnet client sends on connect, then a line.
        let mut input = vec![IAC, 253, 3, IAC, 251, 24, IAC, 251, 31, IAC, 251, 32];
        input.extend_from_slice(b"hi\r\n");
        assert_eq!(run(&input), b"hi\r\n");
    }

    #[test]
    fn subnegotiation_is_removed() {
        let mut input = vec![IAC, SB, 31, 0, 80, 0, 24, IAC, SE];
        input.extend_from_slice(b"ok");
        assert_eq!(run(&input), b"ok");
        // An escaped IAC inside SB does not end it.
        assert_eq!(run(&[IAC, SB, 1, IAC, IAC, 2, IAC, SE, b'x']), b"x");
    }

    #[test]
    fn escaped_iac_and_cr_nul() {
        assert_eq!(run(&[b'a', IAC, IAC, b'b']), &[b'a', IAC, b'b']);
        assert_eq!(run(b"a\r\0b\r\n"), b"a\r\nb\r\n");
        assert_eq!(run(b"a\0b"), b"a\0b"); // NUL alone is data (sanitized later)
        assert_eq!(run(&[IAC, 244, b'z']), b"z"); // IAC IP (interrupt)
    }

    proptest! {
        /// The result does not depend on how the input was split.
        #[test]
        fn any_split_gives_the_same_output(
            input in proptest::collection::vec(
                prop_oneof![Just(IAC), Just(SB), Just(SE), Just(WILL), Just(0u8), Just(b'\r'), any::<u8>()],
                0..200,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let whole = run(&input);
            let mut filter = TelnetFilter::default();
            let mut out = Vec::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort();
            let mut start = 0;
            for cut in cuts.into_iter().chain([input.len()]) {
                filter.filter(&input[start..cut], &mut out);
                start = cut;
            }
            prop_assert_eq!(out, whole);
        }
    }
}
