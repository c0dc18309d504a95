//! The JSON protocol's commands, client to server (docs/PROTOCOL.md).

use serde::Deserialize;

/// One command: a JSON object with a `"type"`.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum JsonCommand<'a> {
    /// Register, or change nick.
    Nick {
        #[serde(borrow)]
        nick: Cow<'a>,
    },
    /// Join a room.
    Join {
        #[serde(borrow)]
        room: Cow<'a>,
    },
    /// Leave a room.
    Part {
        #[serde(borrow)]
        room: Cow<'a>,
        #[serde(borrow, default)]
        reason: Option<Cow<'a>>,
    },
    /// A message to a room or a nick.
    Message {
        #[serde(borrow)]
        to: Cow<'a>,
        #[serde(borrow)]
        text: Cow<'a>,
        #[serde(default)]
        kind: Kind,
    },
    /// Set a room's topic.
    Topic {
        #[serde(borrow)]
        room: Cow<'a>,
        #[serde(borrow)]
        text: Cow<'a>,
    },
    /// Remove a member from a room.
    Kick {
        #[serde(borrow)]
        room: Cow<'a>,
        #[serde(borrow)]
        nick: Cow<'a>,
        #[serde(borrow, default)]
        reason: Option<Cow<'a>>,
    },
    /// Who is in a room.
    Names {
        #[serde(borrow)]
        room: Cow<'a>,
    },
    /// The rooms.
    Rooms,
    /// Set or clear an away message.
    Away {
        #[serde(borrow, default)]
        text: Option<Cow<'a>>,
    },
    /// End the session.
    Quit {
        #[serde(borrow, default)]
        reason: Option<Cow<'a>>,
    },
}

/// A string field: borrowed from the frame unless it had escapes.
pub(crate) type Cow<'a> = std::borrow::Cow<'a, str>;

/// A message's kind.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A chat line.
    #[default]
    Say,
    /// An action (`/me`).
    Act,
    /// A notice.
    Notice,
}

/// Just the `"id"` and `"type"` of a command, read apart from the rest so
/// that an error can name them even when the command is malformed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Envelope<'a> {
    /// Copied into errors the command causes.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// The command's type.
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<Cow<'a>>,
}

/// The types [`JsonCommand`] knows.
pub(crate) const TYPES: &[&str] = &[
    "nick", "join", "part", "message", "topic", "kick", "names", "rooms", "away", "quit",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_with_defaults_and_unknown_fields() {
        let c: JsonCommand = serde_json::from_str(
            r##"{"type":"message","to":"#lobby","text":"hi \"you\"","extra":1}"##,
        )
        .unwrap();
        assert_eq!(
            c,
            JsonCommand::Message {
                to: "#lobby".into(),
                text: "hi \"you\"".into(),
                kind: Kind::Say
            }
        );
        let c: JsonCommand = serde_json::from_str(r#"{"type":"rooms"}"#).unwrap();
        assert_eq!(c, JsonCommand::Rooms);
        assert!(serde_json::from_str::<JsonCommand>(r#"{"type":"frob"}"#).is_err());
        assert!(serde_json::from_str::<JsonCommand>(r#"{"type":"join"}"#).is_err());
    }
}
