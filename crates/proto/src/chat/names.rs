use thiserror::Error;

/// Longest nick or room name, in bytes.
pub const MAX_NAME: usize = 32;

/// Why a command could not be carried out; shown to its sender only.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    /// Not a command we know.
    #[error("unknown command /{0}; type /help for the list")]
    Unknown(String),
    /// Missing or extra arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// Not a valid nick.
    #[error("a nick is 1 to 32 letters, digits, _ or -")]
    BadNick,
    /// Someone else has it (case-insensitively).
    #[error("the nick {0} is taken")]
    NickTaken(String),
    /// Not a valid room name.
    #[error("a room name is 1 to 32 letters, digits, _ or -, after an optional #")]
    BadRoom,
    /// `/join` to the room one is in.
    #[error("you are already in {0}")]
    AlreadyInRoom(String),
    /// `/msg` to nobody.
    #[error("no one is called {0}")]
    NoSuchNick(String),
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a requested nick.
pub fn validate_nick(nick: &str) -> Result<(), CommandError> {
    if is_name(nick) {
        Ok(())
    } else {
        Err(CommandError::BadNick)
    }
}

/// Turns `lobby` or `#lobby` into the display name `#lobby`.
pub fn parse_room(name: &str) -> Result<String, CommandError> {
    let bare = name.strip_prefix('#').unwrap_or(name);
    if is_name(bare) {
        Ok(format!("#{bare}"))
    } else {
        Err(CommandError::BadRoom)
    }
}

/// The key under which names are unique: case-insensitive.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
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
            &"x".repeat(33),
        ] {
            assert_eq!(validate_nick(bad), Err(CommandError::BadNick), "{bad:?}");
        }
    }

    #[test]
    fn room_names() {
        assert_eq!(parse_room("rust").unwrap(), "#rust");
        assert_eq!(parse_room("#rust").unwrap(), "#rust");
        assert_eq!(parse_room("##x"), Err(CommandError::BadRoom));
        assert_eq!(parse_room("#"), Err(CommandError::BadRoom));
        assert_eq!(name_key("#Rust"), "#rust");
    }
}
