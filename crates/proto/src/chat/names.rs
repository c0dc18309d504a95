//! The rules for nicks and room names, shared by every front-end: one
//! character set, one length limit, one case-folding (ASCII: IRC's
//! `CASEMAPPING=ascii`).

use std::borrow::Cow;

use crate::chat::core::ChatError;

/// Longest nick or room name (without the room's `#`), in bytes.
pub const MAX_NAME: usize = 32;

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a requested nick: 1 to [`MAX_NAME`] letters, digits, `_` or `-`.
/// Nothing a front-end uses as punctuation (`<`, `*`, `!`, `@`, `#`, `:`,
/// `,`, spaces) can be part of one, so no client can forge another's line.
pub fn validate_nick(nick: &str) -> Result<(), ChatError> {
    if is_name(nick) {
        Ok(())
    } else {
        Err(ChatError::BadNick(nick.to_string()))
    }
}

/// Turns `lobby` or `#lobby` into the display name `#lobby`.
pub fn parse_room(name: &str) -> Result<String, ChatError> {
    let bare = name.strip_prefix('#').unwrap_or(name);
    if is_name(bare) {
        Ok(format!("#{bare}"))
    } else {
        Err(ChatError::BadRoom(name.to_string()))
    }
}

/// The key under which names are unique: case-insensitive (ASCII).
pub fn name_key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_rules() {
        assert!(validate_nick("alice").is_ok());
        assert!(validate_nick("Bob_the-2nd").is_ok());
        assert!(validate_nick(&"x".repeat(32)).is_ok());
        for bad in [
            "",
            "has space",
            "ünï",
            "semi;colon",
            "<alice>",
            "*",
            "a!b",
            "a@b",
            "#chan",
            &"x".repeat(33),
        ] {
            assert_eq!(
                validate_nick(bad),
                Err(ChatError::BadNick(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn room_names() {
        assert_eq!(parse_room("rust").unwrap(), "#rust");
        assert_eq!(parse_room("#rust").unwrap(), "#rust");
        assert!(parse_room("##x").is_err());
        assert!(parse_room("#").is_err());
        assert_eq!(name_key("#Rust"), "#rust");
        assert!(matches!(name_key("#rust"), Cow::Borrowed(_)));
    }
}
